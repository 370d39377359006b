#!/bin/sh
# Fetch the official evaluation scripts, at the commits Sleuth's metrics were checked against, into this
# folder (see README.md). Needs network access to raw.githubusercontent.com.
set -eu
cd "$(dirname "$0")"
fetch() { curl -fsSL "https://raw.githubusercontent.com/$1" -o "$2"; }
fetch hotpotqa/hotpot/4c0fa5ea6541391ab86170c2f9c57eb87776ad16/hotpot_evaluate_v1.py hotpot_evaluate_v1.py
fetch Alab-NII/2wikimultihop/209e761834d1ce055856fc11072c0a5aab47601d/2wikimultihop_evaluate_v1.1.py \
    2wikimultihop_evaluate_v1_1.py
fetch StonyBrookNLP/musique/8b8d8ce102f97f968b259ea587a4482163eed2ff/metrics/answer.py musique_metrics_answer.py
echo "fetched the official scripts into $(pwd)"
