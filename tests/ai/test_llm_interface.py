"""The neutral types of ``v100.ai.llm`` on their own: importing the package imports no vendor
SDK, messages refuse shapes no vendor could take, system prompts are gathered only from the
head of a conversation, tool choices must name a given tool, and tool-call arguments decode
to an object or say why not."""

from __future__ import annotations

import subprocess
import sys

import pytest

from v100.ai.llm import ChatOptions, Message, Reply, Tool, ToolCall, Usage
from v100.ai.llm._messages import split_system
from v100.ai.llm._vendor import check_tools, retry_after


def test_importing_the_package_imports_no_sdk() -> None:
    code = (
        "import sys, v100.ai.llm\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'anthropic', 'openai', 'google', 'httpx'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_messages_refuse_shapes_no_vendor_takes() -> None:
    call = ToolCall("c1", "f", "{}")
    with pytest.raises(ValueError, match="only an assistant"):
        Message("user", "hi", tool_calls=(call,))
    with pytest.raises(ValueError, match="tool_call_id"):
        Message("tool", "result")
    with pytest.raises(ValueError, match="tool_call_id"):
        Message("user", "hi", tool_call_id="c1")
    reply = Reply("text", (call,), "tool_calls", Usage(1, 2), "m")
    assert reply.message() == Message.assistant("text", [call])
    assert reply.usage is not None
    assert reply.usage.total_tokens == 3


def test_the_system_prompt_is_the_head_of_the_conversation() -> None:
    system, turns = split_system(
        [Message.system("Be brief."), Message.system("Cite."), Message.user("Hi")]
    )
    assert system == "Be brief.\n\nCite."
    assert turns == [Message.user("Hi")]
    assert split_system([Message.user("Hi")]) == ("", [Message.user("Hi")])
    with pytest.raises(ValueError, match="come before"):
        split_system([Message.user("Hi"), Message.system("Late.")])


def test_tool_choices_name_given_tools() -> None:
    tool = Tool("search", "Search the knowledge base.")
    check_tools(ChatOptions("m", tool_choice="search"), [tool])
    check_tools(ChatOptions("m", tool_choice="none"), [])
    with pytest.raises(ValueError, match="not among the tools"):
        check_tools(ChatOptions("m", tool_choice="other"), [tool])
    with pytest.raises(ValueError, match="without tools"):
        check_tools(ChatOptions("m", tool_choice="required"), [])
    with pytest.raises(ValueError, match="same name"):
        check_tools(ChatOptions("m"), [tool, tool])


def test_arguments_decode_to_an_object_or_say_why_not() -> None:
    assert ToolCall("c", "f", '{"a": 1}').parsed_arguments() == {"a": 1}
    assert ToolCall("c", "f", "").parsed_arguments() == {}
    with pytest.raises(ValueError, match="not JSON"):
        ToolCall("c", "f", '{"a": ').parsed_arguments()  # a reply cut at max_tokens
    with pytest.raises(ValueError, match="not a JSON object"):
        ToolCall("c", "f", "[1]").parsed_arguments()


def test_retry_after_reads_what_the_vendors_send() -> None:
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "7"}) == 7
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0  # in the past
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None
