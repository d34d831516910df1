"""Micro-batching: concurrent callers share one ``encode`` call, run off the event loop.

A caller's text waits at most ``max_wait`` seconds (or until ``max_batch`` texts are queued)
before a batch starts. While one batch encodes in the worker thread, new texts queue up and
form the next batch, so under load each ``encode`` call carries many texts and throughput
approaches the offline batch rate. A caller that is cancelled simply leaves: its text is
dropped if its batch has not started, and its result discarded if it has; nobody else is
affected.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from embeddings.metrics import EMBEDDING_BATCH_SIZE, EMBEDDING_DURATION
from embeddings.model import Encoder, Vectors


class BatcherClosedError(RuntimeError):
    pass


class MicroBatcher:
    def __init__(self, encoder: Encoder, *, max_batch: int = 32, max_wait: float = 0.005) -> None:
        self.encoder = encoder
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.batch_sizes: list[int] = []  # observed sizes, newest last (bounded)
        self._queue: list[tuple[str, asyncio.Future[Vectors]]] = []
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        # One thread: encode calls never overlap (torch already uses every core for one batch).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")
        self._closed = False

    async def embed(self, text: str) -> Vectors:
        if self._closed:
            raise BatcherClosedError("the encoder is shutting down")
        future: asyncio.Future[Vectors] = asyncio.get_running_loop().create_future()
        self._queue.append((text, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="embedding-micro-batcher")
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if len(self._queue) < self.max_batch:
                await asyncio.sleep(self.max_wait)
            while self._queue:
                batch = [(text, future) for text, future in self._queue[: self.max_batch] if not future.done()]
                del self._queue[: self.max_batch]
                if batch:
                    await self._encode(batch)

    async def _encode(self, batch: list[tuple[str, asyncio.Future[Vectors]]]) -> None:
        texts = list(dict.fromkeys(text for text, _ in batch))  # each distinct text once
        self.batch_sizes = [*self.batch_sizes[-999:], len(texts)]
        EMBEDDING_BATCH_SIZE.observe(len(texts))
        loop = asyncio.get_running_loop()
        try:
            with EMBEDDING_DURATION.time():
                vectors = await loop.run_in_executor(self._executor, self.encoder.encode, texts)
        except Exception as error:  # noqa: BLE001 - every waiting caller gets the encoder's error
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        by_text = dict(zip(texts, vectors, strict=True))
        for text, future in batch:
            if not future.done():
                future.set_result(by_text[text])

    async def close(self) -> None:
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for _, future in self._queue:
            if not future.done():
                future.set_exception(BatcherClosedError("the encoder is shutting down"))
        self._queue.clear()
        self._executor.shutdown(wait=True)
