"""`sleuth critic train` and `sleuth critic eval`: the sufficiency critic learnt from self-practice."""

from __future__ import annotations

import argparse
from pathlib import Path

from api.cli_output import print_json
from retrieval.errors import ConfigError


def add_critic_commands(commands: argparse._SubParsersAction) -> None:
    critic = commands.add_parser("critic", help="train and evaluate the sufficiency critic on practice records")
    sub = critic.add_subparsers(dest="critic_command", required=True, metavar="SUBCOMMAND")
    train = sub.add_parser("train", help="train a critic on a practice file and save it with a manifest")
    train.add_argument("--data", required=True, type=Path, metavar="FILE", help="practice JSONL (`sleuth practice`)")
    train.add_argument("--out", required=True, type=Path, metavar="DIR", help="the critic directory to write")
    train.add_argument("--val-share", type=float, default=0.2, help="share of the questions held out (0.2)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--cross-encoder", action="store_true", help="also fine-tune MiniLM as a cross-encoder (CPU)")
    train.add_argument("--epochs", type=int, default=1, help="cross-encoder epochs (default 1)")
    train.add_argument("--features", default=None, metavar="A,B", help="logistic features (default: chain state)")
    train.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="probability at which to stop (default: the one with the fewest simulated LLM calls of those whose "
        "simulated F1 on the training questions' out-of-fold predictions matches running every round)",
    )
    train.add_argument(
        "--stop-run",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="choose the threshold for runs that answer at their first sufficient chain (--no-stop-run: for "
        "chains that stop on their own; default: whichever simulates better). It is recorded with the critic; "
        "the budget's stop_run knob is what the loop follows",
    )
    train.add_argument("--force", action="store_true", help="replace an existing critic directory")
    train.set_defaults(handler=run_critic_train)
    ev = sub.add_parser("eval", help="decision accuracy, AUC and simulated stopping on held-out questions")
    ev.add_argument("--data", required=True, type=Path, metavar="FILE", help="practice JSONL")
    which = ev.add_mutually_exclusive_group(required=True)
    which.add_argument("--critic", type=Path, metavar="DIR", help="a trained critic directory")
    which.add_argument(
        "--folds", type=int, metavar="K", help="instead: cross-validate the logistic critic's training over K folds"
    )
    ev.add_argument("--features", default=None, metavar="A,B", help="with --folds: logistic features")
    ev.add_argument("--threshold", type=float, default=None, help="with --folds: a fixed stop threshold")
    ev.add_argument(
        "--cross-encoder", action="store_true", help="with --folds: cross-validate the cross-encoder's training"
    )
    ev.add_argument("--epochs", type=int, default=1, help="with --folds --cross-encoder: epochs (default 1)")
    ev.add_argument("--seed", type=int, default=0, help="with --folds: the seed of the folds")
    ev.add_argument("--all", action="store_true", help="every record, also of questions the critic trained on")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.set_defaults(handler=run_critic_eval)


def run_critic_train(args: argparse.Namespace) -> int:
    from evaluation.critic_training import TrainingPlan, train_critic

    plan = TrainingPlan(
        data=args.data,
        out=args.out,
        val_share=args.val_share,
        seed=args.seed,
        features=features_of(args.features),
        cross_encoder=args.cross_encoder,
        epochs=args.epochs,
        threshold=args.threshold,
        stop_run=args.stop_run,
        force=args.force,
    )
    manifest = train_critic(plan)
    split, data = manifest["split"], manifest["data"]
    print(
        f"trained on {split['train_records']} records of {len(split['train_questions'])} questions, validated on "
        f"{split['val_records']} records of {len(split['val_questions'])} ({data['records']} records in all)"
    )
    for name, m in manifest["metrics"]["validation"].items():
        auc = "-" if m["auc"] is None else f"{m['auc']:.3f}"
        accuracy = "-" if m["accuracy"] is None else f"{m['accuracy']:.3f}"
        print(f"  {name}: decision accuracy {accuracy}, AUC {auc}")
    how = "chosen on the training questions" if manifest["threshold_chosen"] else "given"
    print(f"kept {manifest['kind']} ({manifest['training']['seconds']:.1f} s); written to {args.out}")
    rule = manifest["training"]["threshold_rule"]
    stops = "the whole run at its first sufficient chain" if rule["stop_run"] else "each chain on its own"
    print(f"stop threshold {manifest['threshold']:.2f} ({how}), for {stops}: set the budget's stop_run to match")
    return 0


def run_critic_eval(args: argparse.Namespace) -> int:
    from evaluation.critic_evaluation import evaluate_critic, evaluate_cross_validated, render_report

    if args.cross_encoder and args.folds is None:
        raise ConfigError("--cross-encoder goes with --folds: a trained critic directory says its own kind")
    if args.folds is not None:
        report = evaluate_cross_validated(
            args.data,
            args.folds,
            features_of(args.features),
            args.seed,
            args.threshold,
            cross_encoder_epochs=args.epochs if args.cross_encoder else None,
        )
    else:
        report = evaluate_critic(args.data, args.critic, all_records=args.all)
    if args.json:
        print_json(report)
    else:
        print(render_report(report), end="")
    return 0


def features_of(text: str | None) -> tuple[str, ...]:
    """`--features A,B` as names (default: the chain-state features)."""
    from evaluation.critic_training import DEFAULT_FEATURES
    from reasoning.trained_critic import feature_names

    if text is None:
        return DEFAULT_FEATURES
    features = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = sorted(set(features) - set(feature_names()))
    if unknown or not features:
        raise ConfigError(f"--features: unknown or none {unknown}; known: {', '.join(feature_names())}")
    return features
