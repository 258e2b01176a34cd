"""End-to-end: the official `openai` and `anthropic` Python SDKs, unchanged, pointed at the Haetae gateway.

Driven by tests/e2e_sdk.rs, which starts a mock provider and the real `haetae` binary and passes:
HAETAE_URL (gateway base, no trailing slash), HAETAE_KEY (a valid gateway key) and HAETAE_OTHER_KEY (another
tenant's key). Models named `exaone*` are routed to a second mock, the destination `domestic` (jurisdiction KR).
The mock provider picks its behaviour from the model name (see tests/support/mod.rs).
"""

import os

import anthropic
import openai
import pytest

URL = os.environ["HAETAE_URL"]
KEY = os.environ["HAETAE_KEY"]
OTHER_KEY = os.environ["HAETAE_OTHER_KEY"]
SECRET = "주민등록번호 900101-1234567 입니다"


@pytest.fixture
def oai():
    return openai.OpenAI(base_url=f"{URL}/v1", api_key=KEY, max_retries=0)


@pytest.fixture
def ant():
    return anthropic.Anthropic(base_url=URL, api_key=KEY, max_retries=0)


def msgs(text=SECRET):
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


# --- OpenAI ------------------------------------------------------------------------------------------------------


def test_openai_chat(oai):
    r = oai.chat.completions.create(model="gpt-4o-mini", messages=msgs())
    assert r.choices[0].message.content == "hello from mock"
    assert r.usage.total_tokens == 8


def test_openai_chat_stream(oai):
    chunks = list(oai.chat.completions.create(model="mock-events-6", messages=msgs(), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(f"tok{i} " for i in range(6))


def test_openai_chat_stream_split_across_reads(oai):
    chunks = list(oai.chat.completions.create(model="mock-split", messages=msgs(), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "tok0 tok1 tok2 "


def test_openai_tool_calls(oai):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    r = oai.chat.completions.create(model="mock-tools", messages=msgs("weather in Seoul?"), tools=tools)
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"Seoul"}'
    # send the tool result back: tool-call arguments and tool results are forwarded too
    follow = msgs("weather in Seoul?") + [
        {"role": "assistant", "tool_calls": [{"id": call.id, "type": "function",
                                              "function": {"name": "get_weather", "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "맑음, 21°C"},
    ]
    r2 = oai.chat.completions.create(model="gpt-4o-mini", messages=follow, tools=tools)
    assert r2.choices[0].message.content == "hello from mock"
    stream = oai.chat.completions.create(model="mock-tools", messages=msgs("weather?"), tools=tools, stream=True)
    names = [tc.function.name for c in stream if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert names == ["get_weather"]


def test_openai_responses_embeddings_models(oai):
    r = oai.responses.create(model="gpt-4o-mini", input=SECRET)
    assert r.output_text == "hello from mock"
    e = oai.embeddings.create(model="text-embedding-3-small", input=["a", SECRET])
    assert e.data[0].embedding == [0.1, 0.2]
    ids = [m.id for m in oai.models.list()]
    assert ids == ["gpt-4o-mini"]


def test_openai_responses_stored_compact_and_token_count(oai):
    # A stored (e.g. background) response: retrieve, resume its stream, list its input, cancel, delete.
    r = oai.responses.retrieve("resp_abc123")
    assert (r.id, r.status, r.output_text) == ("resp_abc123", "completed", "hello from mock")
    events = list(oai.responses.retrieve("resp_abc123", stream=True, starting_after=0))
    assert [e.type for e in events][-1] == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "hello from mock"
    assert [i.id for i in oai.responses.input_items.list("resp_abc123")] == ["msg_in"]
    assert oai.responses.cancel("resp_abc123").status == "cancelled"
    assert oai.responses.delete("resp_abc123") is None
    # Responses-shaped bodies: inspected and forwarded whole (the mock counts the bytes it received).
    n = oai.responses.input_tokens.count(model="gpt-4o-mini", input=SECRET)
    assert n.input_tokens > len(SECRET.encode())
    c = oai.responses.compact(model="gpt-4o-mini", input=SECRET)
    assert c.object == "response.compaction"


def test_openai_stored_response_stays_on_its_domestic_destination(oai):
    # Created on the domestic destination by model routing; every later call about it goes there too.
    raw = oai.responses.with_raw_response.create(
        model="exaone-3.5", input=SECRET, background=True, metadata={"mock_id": "resp_kr_e2e"})
    assert raw.headers["x-haetae-destination"] == "domestic; jurisdiction=KR"
    assert raw.parse().id == "resp_kr_e2e"
    got = oai.responses.with_raw_response.retrieve("resp_kr_e2e")
    assert got.headers["x-haetae-destination"] == "domestic; jurisdiction=KR"
    assert got.parse().output_text == "hello from mock"
    events = list(oai.responses.retrieve("resp_kr_e2e", stream=True, starting_after=0))
    assert events[-1].type == "response.completed"
    # Another tenant cannot read, cancel or delete it, nor continue from it: the SDK raises NotFoundError.
    other = openai.OpenAI(base_url=f"{URL}/v1", api_key=OTHER_KEY, max_retries=0)
    for call in (lambda: other.responses.retrieve("resp_kr_e2e"),
                 lambda: other.responses.cancel("resp_kr_e2e"),
                 lambda: other.responses.delete("resp_kr_e2e"),
                 lambda: other.responses.create(model="exaone-3.5", input="more",
                                                previous_response_id="resp_kr_e2e")):
        with pytest.raises(openai.NotFoundError) as e:
            call()
        assert "tenant" in str(e.value)
    deleted = oai.responses.with_raw_response.delete("resp_kr_e2e")
    assert deleted.headers["x-haetae-destination"] == "domestic; jurisdiction=KR"


def test_openai_upstream_error_surfaces(oai):
    with pytest.raises(openai.RateLimitError) as e:
        oai.chat.completions.create(model="mock-error-429", messages=msgs())
    assert "mock provider: slow down" in str(e.value)


def test_openai_gateway_errors_surface_with_gateway_message(oai):
    bad = openai.OpenAI(base_url=f"{URL}/v1", api_key="not-a-gateway-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.chat.completions.create(model="gpt-4o-mini", messages=msgs())
    assert "invalid gateway key" in str(e.value)
    with pytest.raises(openai.NotFoundError) as e:
        oai.fine_tuning.jobs.list()
    assert "does not serve" in str(e.value)
    with pytest.raises(openai.APIStatusError) as e:
        oai.chat.completions.create(model="gpt-4o-mini", messages=msgs("x" * (2 * 1024 * 1024)))
    assert e.value.status_code == 413
    assert "max_request_body_bytes" in str(e.value)
    # Text built to be slow to scan (each `sk-` starts a candidate rejected at the run's end): refused at the
    # inspection deadline with a 4xx, which the SDK does not retry.
    with pytest.raises(openai.APIStatusError) as e:
        oai.chat.completions.create(model="gpt-4o-mini", messages=msgs("xsk-" * 200_000))
    assert e.value.status_code == 413
    assert "timeouts.inspection_ms" in str(e.value)


def test_openai_stream_reset_raises(oai):
    with pytest.raises(openai.APIError) as e:
        for _ in oai.chat.completions.create(model="mock-reset", messages=msgs(), stream=True):
            pass
    assert "upstream" in str(e.value)


# --- Anthropic ---------------------------------------------------------------------------------------------------


def test_anthropic_messages(ant):
    r = ant.messages.create(model="claude-sonnet-4-5", max_tokens=64, system="be brief",
                            messages=[{"role": "user", "content": SECRET}])
    assert r.content[0].text == "hello from mock"
    assert r.usage.output_tokens == 3


def test_anthropic_stream(ant):
    with ant.messages.stream(model="mock-events-4", max_tokens=64,
                             messages=[{"role": "user", "content": SECRET}]) as s:
        text = "".join(s.text_stream)
    assert text == "tok0 tok1 tok2 tok3 "


def test_anthropic_stream_split_across_reads(ant):
    with ant.messages.stream(model="mock-split", max_tokens=64, messages=[{"role": "user", "content": "hi"}]) as s:
        final = s.get_final_message()
    assert final.content[0].text == "tok0 tok1 tok2 "


def test_anthropic_tool_use(ant):
    tools = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    r = ant.messages.create(model="mock-tools", max_tokens=64, tools=tools,
                            messages=[{"role": "user", "content": "weather?"}])
    block = r.content[0]
    assert block.type == "tool_use" and block.input == {"city": "Seoul"}
    r2 = ant.messages.create(model="claude-sonnet-4-5", max_tokens=64, tools=tools, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": block.id, "name": "get_weather", "input": block.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "맑음"}]},
    ])
    assert r2.content[0].text == "hello from mock"


def test_anthropic_errors_surface(ant):
    with pytest.raises(anthropic.RateLimitError) as e:
        ant.messages.create(model="mock-error-429", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert "mock provider: slow down" in str(e.value)
    bad = anthropic.Anthropic(base_url=URL, api_key="nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as e:
        bad.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert "invalid gateway key" in str(e.value)


def test_anthropic_beta_messages_and_token_count(ant):
    # The SDK's beta namespace posts to /v1/messages?beta=true with `anthropic-beta` headers.
    r = ant.beta.messages.create(model="claude-sonnet-4-5", max_tokens=64, betas=["token-efficient-tools-2025-02-19"],
                                 messages=[{"role": "user", "content": SECRET}])
    assert r.content[0].text == "hello from mock"
    n = ant.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": SECRET}])
    assert n.input_tokens > 0


def test_async_clients_stream():
    import asyncio

    async def run():
        oai = openai.AsyncOpenAI(base_url=f"{URL}/v1", api_key=KEY, max_retries=0)
        ant = anthropic.AsyncAnthropic(base_url=URL, api_key=KEY, max_retries=0)
        stream = await oai.chat.completions.create(model="mock-events-5", messages=msgs(), stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        async with ant.messages.stream(model="mock-events-4", max_tokens=64,
                                       messages=[{"role": "user", "content": SECRET}]) as s:
            atext = "".join([t async for t in s.text_stream])
        await oai.close()
        await ant.close()
        return text, atext

    text, atext = asyncio.run(run())
    assert text == "tok0 tok1 tok2 tok3 tok4 "
    assert atext == "tok0 tok1 tok2 tok3 "


def test_anthropic_stream_reset_raises(ant):
    with pytest.raises(anthropic.APIError) as e:
        with ant.messages.stream(model="mock-reset", max_tokens=8, messages=[{"role": "user", "content": "x"}]) as s:
            for _ in s.text_stream:
                pass
    assert "upstream" in str(e.value)
