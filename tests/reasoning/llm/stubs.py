"""Stand-ins for llama_cpp, vllm and an OpenAI-compatible server, for unit tests of the backends."""

from __future__ import annotations

import json
import re
import threading
import time
import types
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# --- llama_cpp ---------------------------------------------------------------------------------------


class WordTokens:
    """Whitespace words to stable integer ids (1 + order of first appearance)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def encode(self, text: str) -> list[int]:
        return [self.ids.setdefault(word, len(self.ids) + 1) for word in text.split()]


class FakeLlama:
    """Imitates llama_cpp.Llama: word tokens, a KV cache of the last call's tokens, canned completions."""

    instances: list[FakeLlama] = []  # noqa: RUF012 - a registry tests read

    def __init__(self, model_path: str, **options: Any) -> None:
        self.model_path = model_path
        self.options = options
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.tokens = WordTokens()
        self.n_tokens = 0
        self.input_ids: list[int] = []
        self.metadata: dict[str, str] = {}
        self.fail_with: Exception | None = None
        FakeLlama.instances.append(self)

    def n_ctx(self) -> int:
        return int(self.options["n_ctx"])

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return self.tokens.encode(text.decode("utf-8"))

    def token_eos(self) -> int:
        return -1

    def token_bos(self) -> int:
        return -1

    def detokenize(self, tokens: list[int], special: bool = False) -> bytes:
        return b""

    def _run(self, kind: str, prompt_text: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((kind, kwargs))
        if self.fail_with is not None:
            raise self.fail_with
        tokens = self.tokens.encode(prompt_text)
        self.input_ids = [*tokens, 999]
        self.n_tokens = len(self.input_ids)
        text = '{"ok": true}' if kwargs.get("grammar") or kwargs.get("response_format") else f"out-{kwargs['seed']}"
        choice: dict[str, Any] = {"finish_reason": "stop"}
        if kind == "chat":
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return {"choices": [choice], "usage": {"prompt_tokens": len(tokens), "completion_tokens": 2}}

    def create_completion(self, prompt: str, **kwargs: Any) -> dict[str, Any]:
        return self._run("text", prompt, {"prompt": prompt, **kwargs})

    def create_chat_completion(self, messages: list[dict[str, str]], **kwargs: Any) -> dict[str, Any]:
        rendered = " ".join(f"<{m['role']}> {m['content']}" for m in messages) + " <assistant>"
        return self._run("chat", rendered, {"messages": messages, **kwargs})


class FakeGrammar:
    built: list[str] = []  # noqa: RUF012

    def __init__(self, schema: str) -> None:
        self.schema = schema

    @classmethod
    def from_json_schema(cls, schema: str, verbose: bool = True) -> FakeGrammar:
        cls.built.append(schema)
        return cls(schema)


class FakeChatFormatter:
    def __init__(self, template: str, eos_token: str, bos_token: str) -> None:
        self.template = template

    def __call__(self, *, messages: list[dict[str, str]]) -> Any:
        rendered = " ".join(f"<{m['role']}> {m['content']}" for m in messages) + " <assistant>"
        return types.SimpleNamespace(prompt=rendered, added_special=True)


def fake_llama_cpp_modules(package: Path) -> dict[str, types.ModuleType]:
    FakeLlama.instances.clear()
    FakeGrammar.built.clear()
    (package / "lib").mkdir(parents=True, exist_ok=True)
    (package / "lib" / "libggml-cpu.so").write_bytes(b"")
    module = types.ModuleType("llama_cpp")
    module.__file__ = str(package / "__init__.py")
    module.Llama = FakeLlama  # type: ignore[attr-defined]
    module.LlamaGrammar = FakeGrammar  # type: ignore[attr-defined]
    module.LogitsProcessorList = list  # type: ignore[attr-defined]
    chat_format = types.ModuleType("llama_cpp.llama_chat_format")
    chat_format.Jinja2ChatFormatter = FakeChatFormatter  # type: ignore[attr-defined]
    module.llama_chat_format = chat_format  # type: ignore[attr-defined]
    return {"llama_cpp": module, "llama_cpp.llama_chat_format": chat_format}


# --- vllm ----------------------------------------------------------------------------------------------


class FakeTokenizer:
    def __init__(self) -> None:
        self.tokens = WordTokens()

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return ([0] if add_special_tokens else []) + self.tokens.encode(text)

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool, add_generation_prompt: bool) -> str:
        return " ".join(f"<{m['role']}> {m['content']}" for m in messages) + " <assistant>"


class FakeVLLMEngine:
    instances: list[FakeVLLMEngine] = []  # noqa: RUF012

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.generate_calls: list[tuple[list[dict[str, Any]], Any]] = []
        self.tokenizer = FakeTokenizer()
        FakeVLLMEngine.instances.append(self)

    def get_tokenizer(self) -> FakeTokenizer:
        return self.tokenizer

    def generate(self, prompts: list[dict[str, Any]], sampling: Any, use_tqdm: bool = True) -> list[Any]:
        self.generate_calls.append((prompts, sampling))
        n = sampling.options["n"]
        outputs = []
        for p in prompts:
            samples = [
                types.SimpleNamespace(index=i, text=f"s{i}", token_ids=[7] * (i + 1), finish_reason="stop")
                for i in reversed(range(n))
            ]
            if "logprobs" in sampling.options:  # per step {token id: Logprob}, the sampled token among them
                for sample in samples:
                    step = {7: types.SimpleNamespace(logprob=-0.5, decoded_token="s"), 8: None}
                    sample.logprobs = [step] * len(sample.token_ids)
            outputs.append(
                types.SimpleNamespace(prompt_token_ids=p["prompt_token_ids"], outputs=samples, num_cached_tokens=1)
            )
        return outputs


class FakeSamplingParams:
    def __init__(self, **options: Any) -> None:
        self.options = options


@dataclass
class FakeStructured:
    json: dict[str, Any]


def fake_vllm_modules(*, structured_outputs: bool) -> dict[str, types.ModuleType]:
    FakeVLLMEngine.instances.clear()
    module = types.ModuleType("vllm")
    module.LLM = FakeVLLMEngine  # type: ignore[attr-defined]
    module.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]
    sampling = types.ModuleType("vllm.sampling_params")
    if structured_outputs:
        sampling.StructuredOutputsParams = FakeStructured  # type: ignore[attr-defined]
    else:
        sampling.GuidedDecodingParams = FakeStructured  # type: ignore[attr-defined]
    module.sampling_params = sampling  # type: ignore[attr-defined]
    return {"vllm": module, "vllm.sampling_params": sampling}


# --- an OpenAI-compatible server -----------------------------------------------------------------------

CONTEXT_MESSAGE = (
    "This model's maximum context length is 2048 tokens. However, you requested 3000 tokens "
    "(2800 in the messages, 200 in the completion). Please reduce the length of the messages or completion."
)


@dataclass
class StubBehaviour:
    """What the stub server does; tests change it while the server runs."""

    delay_s: float = 0.0
    fail_statuses: list[int] = field(default_factory=list)  # answered in order, one per request, before succeeding
    context_error: bool = False
    tokenize: bool = True
    max_model_len: int = 2048
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def completion_requests(self) -> list[dict[str, Any]]:
        return [body for path, body in self.requests if path.endswith("completions")]


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StubServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server.behaviour
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "stub-model", "max_model_len": state.max_model_len}]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        state = self.server.behaviour
        if self.path == "/tokenize":
            if state.tokenize:
                self._send(200, {"count": len(body["prompt"].split()), "max_model_len": state.max_model_len})
            else:
                self._send(404, {"detail": "Not Found"})
            return
        with state.lock:
            state.requests.append((self.path, body))
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            status = state.fail_statuses.pop(0) if state.fail_statuses else 200
        time.sleep(state.delay_s)
        with state.lock:
            state.in_flight -= 1  # before answering, so the next request cannot overlap this one in the count
        if status != 200:
            self._send(status, {"error": {"message": f"stub failure {status}", "code": status}})
        elif state.context_error:
            self._send(400, {"object": "error", "message": CONTEXT_MESSAGE, "type": "BadRequestError", "code": 400})
        else:
            self._send(200, self._completion(body))

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        chat = self.path.endswith("/chat/completions")
        source = body["messages"][-1]["content"] if chat else body["prompt"]
        text = '{"ok": true}' if "guided_json" in body or "response_format" in body else f"echo: {source}"
        choices = []
        for i in reversed(range(int(body.get("n", 1)))):  # out of order on purpose
            content = f"{text} #{i}" if body.get("n", 1) > 1 else text
            choice: dict[str, Any] = {"index": i, "finish_reason": "length" if i == 1 else "stop"}
            choice.update({"message": {"role": "assistant", "content": content}} if chat else {"text": content})
            if "logprobs" in body:  # each word a token at -0.25, in either API's shape
                words = re.findall(r"\S+\s*", content)
                choice["logprobs"] = (
                    {"content": [{"token": w, "logprob": -0.25} for w in words]}
                    if chat
                    else {"tokens": words, "token_logprobs": [-0.25] * len(words)}
                )
            choices.append(choice)
        usage = {"prompt_tokens": len(source.split()), "completion_tokens": 2 * len(choices)}
        usage["prompt_tokens_details"] = {"cached_tokens": 1}  # type: ignore[assignment]
        return {
            "id": "x",
            "object": "chat.completion" if chat else "text_completion",
            "choices": choices,
            "usage": usage,
        }

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.behaviour = StubBehaviour()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and closed its connection is expected here
