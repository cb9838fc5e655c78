"""Secret fields never reach the request log, in JSON or XML bodies."""

from __future__ import annotations

import json

import pytest

from pressline.requestlog.redact import REDACTED, SECRET_WORDS, is_secret, redact


def test_json_secret_fields_are_redacted_at_any_depth_and_the_rest_is_kept() -> None:
    body = {
        "orderReferenceId": "A-1",
        "auth": {"Api-Key": "k-123", "client_secret": "s-456", "nested": [{"accessToken": "t"}]},
        "payment": {"cardNumber": "4111111111111111", "CVV": "123", "holder": "Ada"},
        "password": {"even": "objects"},
    }
    logged = json.loads(redact(json.dumps(body).encode(), limit=10_000) or "")
    assert logged["orderReferenceId"] == "A-1"
    assert logged["auth"] == {
        "Api-Key": REDACTED, "client_secret": REDACTED, "nested": [{"accessToken": REDACTED}]
    }  # fmt: skip
    assert logged["payment"] == {"cardNumber": REDACTED, "CVV": REDACTED, "holder": "Ada"}
    assert logged["password"] == REDACTED


def test_xml_elements_and_attributes_named_like_secrets_are_redacted() -> None:
    xml = (
        b'<Order><Password>hunter2</Password><Auth token="abc" user="ada"/><Note>ok</Note></Order>'
    )
    logged = redact(xml, limit=10_000) or ""
    assert "hunter2" not in logged and "abc" not in logged
    assert f"<Password>{REDACTED}</Password>" in logged
    assert 'user="ada"' in logged and "<Note>ok</Note>" in logged


def test_broken_json_still_loses_its_secret_values() -> None:
    logged = redact(b'{"secret": "s3", "name": "x", oops', limit=10_000) or ""
    assert "s3" not in logged and '"name": "x"' in logged


def test_long_bodies_are_cut_and_say_so() -> None:
    logged = redact(b"x" * 5000, limit=100) or ""
    assert logged.startswith("x" * 100) and logged.endswith("[truncated 4900 characters]")


def test_pressline_documents_are_stored_as_they_are() -> None:
    assert redact(b'{"token": "t"}', limit=100, scrub=False) == '{"token": "t"}'
    assert redact(b"", limit=100) is None


@pytest.mark.parametrize("word", SECRET_WORDS)
def test_every_listed_word_marks_a_secret_in_any_case(word: str) -> None:
    assert is_secret(f"x_{word.upper()}") and is_secret(word)


@pytest.mark.parametrize("name", ["author", "passenger", "keyword", "cardinal", "city"])
def test_ordinary_names_are_not_secrets(name: str) -> None:
    assert not is_secret(name)


@pytest.mark.parametrize("name", ["pass-word", "PASS_WD", "api_key", "X-Api-Key", "private_key",
                                  "card-number", "Access_Token", "client-secret"])  # fmt: skip
def test_a_secret_name_may_have_dashes_or_underscores_anywhere(name: str) -> None:
    assert is_secret(name)
    logged = json.loads(redact(json.dumps({name: "s3"}).encode(), limit=100) or "")
    assert logged == {name: REDACTED}


def test_a_secret_name_spelled_in_json_escapes_is_redacted_too() -> None:
    body = b'{"\\u0074oken": "t0p", "name": "x"}'  # "token"
    assert json.loads(redact(body, limit=100) or "") == {"token": REDACTED, "name": "x"}


def test_json_after_a_byte_order_mark_is_redacted() -> None:
    body = b'\xef\xbb\xbf{"token": "t0p", "name": "x"}'
    assert json.loads(redact(body, limit=100) or "") == {"token": REDACTED, "name": "x"}


@pytest.mark.parametrize(
    "xml",
    [
        b"<A><Password><![CDATA[s3cr3t]]></Password><B>ok</B></A>",
        b"<A><apiKey><v>s3cr3t</v></apiKey><B>ok</B></A>",
        b"<A><password>a<b/>s3cr3t</password><B>ok</B></A>",
        b"<A><B>ok</B><Token>s3cr3t",  # cut short: the rest is the secret's
    ],
    ids=["cdata", "child-element", "mixed", "unterminated"],
)
def test_a_secret_elements_whole_content_is_redacted(xml: bytes) -> None:
    logged = redact(xml, limit=1000) or ""
    assert "s3cr3t" not in logged and REDACTED in logged
    assert "<B>ok</B>" in logged


def test_a_self_closing_secret_element_hides_nothing_after_it() -> None:
    logged = redact(b'<A><apiKey/><Note>ok</Note><Auth token="abc"/></A>', limit=1000) or ""
    assert "<Note>ok</Note>" in logged and "abc" not in logged


@pytest.mark.parametrize(
    "body",
    [
        b'{"password": "ab\\"s3cr3t", "name": "x", oops',
        b'{"password": 3141592653, "name": "x", oops',
        b'{"password": "s3cr3t',
    ],
    ids=["escaped-quote", "number", "cut-short"],
)
def test_broken_json_loses_every_kind_of_secret_value(body: bytes) -> None:
    logged = redact(body, limit=1000) or ""
    assert "s3cr3t" not in logged and "3141592653" not in logged and REDACTED in logged


def test_broken_json_with_a_secret_object_keeps_nothing() -> None:
    body = b'{"name": "x", "password": {"a": {"b": "s3cr3t"}}, ' + b"[" * 5000
    logged = redact(body, limit=1000) or ""
    assert "s3cr3t" not in logged and logged.startswith(REDACTED)


def test_form_fields_named_like_secrets_are_redacted_and_other_text_is_kept() -> None:
    logged = redact(b"user=ada&password=s3cr3t&api_key=k", limit=1000) or ""
    assert logged == "user=ada&password=%5Bredacted%5D&api_key=%5Bredacted%5D"
    assert redact(b"my password is long", limit=1000) == "my password is long"


@pytest.mark.parametrize(
    "body",
    [b"password=s3cr3t&", b"password=s3cr3t&remember", b"pass%77ord=s3cr3t&x=1",
     b"api%5Fkey=s3cr3t", b"user=ada&Api+Key=s3cr3t"],
)  # fmt: skip
def test_every_form_field_named_like_a_secret_is_redacted(body: bytes) -> None:
    logged = redact(body, limit=1000) or ""
    assert "s3cr3t" not in logged and "%5Bredacted%5D" in logged


def test_nested_secret_elements_are_redacted_whole() -> None:
    logged = redact(b"<a><token><token>x</token><v>s3cr3t</v></token><b>ok</b></a>", limit=999)
    assert logged is not None and "s3cr3t" not in logged and "<b>ok</b>" in logged


@pytest.mark.parametrize("body", [b"{'password': 's3cr3t', oops", b'{password: "s3cr3t", oops'])
def test_broken_json_with_a_loosely_quoted_secret_keeps_nothing(body: bytes) -> None:
    assert (redact(body, limit=1000) or "").startswith(REDACTED)


def test_a_body_with_nothing_to_redact_is_stored_as_it_came() -> None:
    body = '{"note": "Grüße \\u00e9", "n": 123456789012345678901234567890,  "x": 1.50}'.encode()
    assert redact(body, limit=1000) == body.decode()


@pytest.mark.parametrize(
    "body",
    [b'{"token' + b'\\"' * 500_000, b"<a " * 350_000, b'{"a\\u0041": "' + b'\\"' * 500_000],
    ids=["json-escaped-quotes", "xml-unclosed-tags", "json-escapes-only"],
)
def test_a_hostile_mebibyte_is_scrubbed_and_cut(body: bytes) -> None:
    # Each of these took seconds to minutes with patterns that rescanned the text; this
    # checks the result, not the time (timings are measured outside the tests).
    logged = redact(body, limit=65_536) or ""
    assert logged.endswith("characters]") and len(logged) < 65_600


def test_a_long_json_body_compacted_below_the_limit_is_not_called_cut() -> None:
    body = ('{"token": "t", ' + " " * 200 + '"name": "x"}').encode()
    assert redact(body, limit=100) == '{"token":"[redacted]","name":"x"}'
