"""A real IPython kernel (ipykernel 7) driven over its channels: code on the main shell, and code on a kernel
subshell, which ipykernel runs on a thread of its own with its own event loop (where JupyterLab may also have
widget callbacks handled)."""

from __future__ import annotations

import json
import queue
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from jupyter_client.manager import KernelManager
from websockets.sync.client import connect

from tests.notebook_env import notebook_env

REPLY_SECONDS = 60.0
UNTIL_SECONDS = 60.0


class KernelError(AssertionError):
    """Code run in the kernel raised; the message holds its traceback."""


def printed(messages: Iterable[dict[str, Any]]) -> str:
    """What an execution printed, from its messages up to the kernel going idle; KernelError if it raised."""
    output: list[str] = []
    for message in messages:
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            output.append(content["text"])
        elif kind == "error":
            raise KernelError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(output).strip()
    raise KernelError("the kernel's messages ended before it went idle")


class KernelSession:
    """A kernel started for one test, pointed at the session stack."""

    def __init__(self, stack_dir: Path) -> None:
        self._manager = KernelManager(kernel_cmd=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                                  "{connection_file}"])
        self._env = notebook_env(stack_dir)

    def __enter__(self) -> KernelSession:
        self._manager.start_kernel(env=self._env)
        self._client = self._manager.client()
        self._client.start_channels()
        self._client.wait_for_ready(timeout=REPLY_SECONDS)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._client.stop_channels()
        self._manager.shutdown_kernel(now=True)

    def run(self, code: str, subshell_id: str | None = None) -> str:
        """Execute ``code`` on the main shell (or a subshell); its printed output, or KernelError with the
        traceback."""
        request = self._client.session.msg("execute_request", {
            "code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False,
            "stop_on_error": True})
        if subshell_id is not None:
            request["header"]["subshell_id"] = subshell_id
        self._client.shell_channel.send(request)
        msg_id = request["header"]["msg_id"]
        return printed(message for message in iter(lambda: self._client.get_iopub_msg(timeout=REPLY_SECONDS), None)
                       if message["parent_header"].get("msg_id") == msg_id)

    def until(self, condition: str, what: str, shown: str = "None", deadline: float = UNTIL_SECONDS) -> None:
        """Evaluate ``condition`` in the kernel until it is true, or fail naming ``what`` (and the value of
        ``shown``)."""
        ends = time.monotonic() + deadline
        while self.run(f"print(bool({condition}))") != "True":
            if time.monotonic() > ends:
                raise AssertionError(f"not within {deadline:g} s: {what}; {shown} = {self.run(f'print({shown})')}")
            time.sleep(0.1)

    def create_subshell(self) -> str:
        """Ask the kernel (control channel) for a subshell; its id."""
        request = self._client.session.msg("create_subshell_request", {})
        self._client.control_channel.send(request)
        reply = self._reply(self._client.control_channel, request["header"]["msg_id"])
        if reply["content"].get("status") != "ok":
            raise KernelError(f"the kernel refused a subshell: {reply['content']}")
        return str(reply["content"]["subshell_id"])

    @staticmethod
    def _reply(channel: Any, msg_id: str) -> dict[str, Any]:
        ends = time.monotonic() + REPLY_SECONDS
        while time.monotonic() < ends:
            try:
                message = channel.get_msg(timeout=1.0)
            except queue.Empty:
                continue
            if message["parent_header"].get("msg_id") == msg_id:
                return message
        raise KernelError(f"no reply to {msg_id} within {REPLY_SECONDS:g} s")


class LabKernel:
    """The kernel of a notebook open in JupyterLab, reached as a second client through the server's websocket
    (the JSON protocol JupyterLab itself speaks), to run code on a subshell of it."""

    def __init__(self, base_url: str, token: str, notebook_name: str) -> None:
        sessions = httpx.get(f"{base_url}/api/sessions", params={"token": token}, timeout=10.0).json()
        kernel_id = next(session["kernel"]["id"] for session in sessions
                         if session["path"].endswith(notebook_name))
        self._session = uuid.uuid4().hex
        self._ws = connect(f"{base_url.replace('http', 'ws', 1)}/api/kernels/{kernel_id}/channels"
                           f"?token={token}&session_id={self._session}")

    def close(self) -> None:
        """Close this client's connection; the kernel and JupyterLab's own connection stay."""
        self._ws.close()

    def _send(self, channel: str, msg_type: str, content: dict[str, Any], subshell_id: str | None = None) -> str:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "session": self._session, "username": "test",
                  "date": datetime.now(UTC).isoformat(), "version": "5.4"}
        if subshell_id is not None:
            header["subshell_id"] = subshell_id
        self._ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content,
                                  "channel": channel, "buffers": []}))
        return msg_id

    def _messages(self, msg_id: str) -> Iterator[dict[str, Any]]:
        ends = time.monotonic() + REPLY_SECONDS
        while time.monotonic() < ends:
            try:
                message = json.loads(self._ws.recv(timeout=1.0))
            except TimeoutError:
                continue
            if message.get("parent_header", {}).get("msg_id") == msg_id:
                yield message
        raise KernelError(f"no complete answer to {msg_id} within {REPLY_SECONDS:g} s")

    def create_subshell(self) -> str:
        """A new subshell of the notebook's kernel; its id."""
        msg_id = self._send("control", "create_subshell_request", {})
        for message in self._messages(msg_id):
            if message["msg_type"] == "create_subshell_reply":
                if message["content"].get("status") != "ok":
                    raise KernelError(f"the kernel refused a subshell: {message['content']}")
                return str(message["content"]["subshell_id"])
        raise AssertionError("unreachable")

    def run(self, code: str, subshell_id: str) -> str:
        """Execute ``code`` on the subshell; its printed output, or KernelError with the traceback."""
        msg_id = self._send("shell", "execute_request", {
            "code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False,
            "stop_on_error": True}, subshell_id)
        return printed(self._messages(msg_id))
