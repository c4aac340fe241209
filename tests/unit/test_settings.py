"""Settings validation: every bad value is one line that names its option."""

from __future__ import annotations

import argparse

import pytest

from harness.argtypes import MAX_SECONDS
from harness.settings import (
    LOAD_OPTIONS,
    NUMBER_RANGES,
    LoadSettings,
    SettingsError,
    add_options,
    check_range,
    secret_environment,
    to_arguments,
)
from harness.wire import JAVA_INT_MAX


def parse(*argv: str) -> LoadSettings:
    parser = argparse.ArgumentParser()
    add_options(parser)
    return LoadSettings.from_namespace(parser.parse_args(list(argv)))


def test_defaults_are_valid() -> None:
    settings = parse()
    assert (settings.producers, settings.consumers, settings.rate, settings.subscription_type) == (
        2,
        2,
        100.0,
        "Shared",
    )


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--rate", "-5"], "--rate"),
        (["--rate", "0"], "--rate"),
        (["--subscription-type", "Sharded"], "--subscription-type"),
        (["--target", "kafka"], "--target"),
        (["--target", "pulsar"], "--url"),
        (["--url", "ftp://x"], "--url"),
        (["--topic", "c8globals.x"], "--topic"),
        (["--producers", "-1"], "--producers"),
        (["--size", "900000"], "--size"),
        (["--duration", "-1"], "--duration"),
        (["--target", "gdn", "--url", "https://gdn.example"], "--api-key"),
        (["--target", "gdn", "--url", "https://gdn.example", "--email", "a@b.c"], "--password"),
        (["--target", "gdn"], "--url"),
        (["--ca-file", "/nonexistent/ca.pem"], "--ca-file"),
        (["--nack-probability", "2"], "--nack-probability"),
        (["--permits", "0"], "--permits"),
        (["--rate-profile", "step"], "--step-rates"),
        (["--rate-profile", "step", "--step-rates", "5,-1"], "--step-rates"),
        (["--rate-profile", "ramp", "--duration", "0"], "--rate-profile ramp"),
        (["--payload", "lorem"], "--payload"),
        (["--events-to", "s3"], "--events-to"),
    ],
)
def test_bad_values_give_one_line_naming_the_option(argv: list[str], names: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(*argv)
    message = str(caught.value)
    assert names in message and "\n" not in message


def test_round_trip_to_arguments_keeps_secrets_out_of_the_command_line() -> None:
    settings = parse("--target", "pulsar", "--url", "ws://h:1", "--token", "s3cret", "--rate", "7.5")
    args = to_arguments(settings)
    assert "s3cret" not in args and "--token" not in args
    assert args[args.index("--rate") + 1] == "7.5"
    assert secret_environment(settings) == {"STREAMHARNESS_TOKEN": "s3cret"}


def test_every_option_maps_to_a_setting() -> None:
    fields = set(LoadSettings().as_dict())
    assert {spec.dest for spec in LOAD_OPTIONS} == fields


def test_gdn_settings_accept_any_one_credential() -> None:
    for creds in (["--api-key", "t.k.s"], ["--token", "a.b.c"], ["--email", "a@b.c", "--password", "pw"]):
        settings = parse("--target", "gdn", "--url", "https://gdn.example", *creds)
        assert settings.target == "gdn"


def test_environment_variables_give_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMHARNESS_API_KEY", "t.k.from-env")
    monkeypatch.setenv("STREAMHARNESS_INSECURE", "true")
    monkeypatch.setenv("STREAMHARNESS_RATE", "12.5")
    settings = parse("--target", "gdn", "--url", "https://gdn.example")
    assert (settings.api_key, settings.insecure, settings.rate) == ("t.k.from-env", True, 12.5)
    assert "t.k.from-env" not in " ".join(to_arguments(settings))
    args = to_arguments(settings)
    assert args[args.index("--insecure") + 1].startswith("--")  # a bare flag, no value after it


FLOAT_FLAGS = [spec.flag for spec in LOAD_OPTIONS if spec.type is float]


def refusal(*argv: str) -> str:
    """The one line a bad setting gives."""
    with pytest.raises(SettingsError) as caught:
        parse(*argv)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "Infinity"])
@pytest.mark.parametrize("flag", FLOAT_FLAGS)
def test_no_number_may_be_nan_or_infinite(flag: str, value: str) -> None:
    extra = ["--rate-profile", "step", "--step-rates", "10"] if flag == "--step-seconds" else []
    message = refusal(*extra, f"{flag}={value}")
    assert message.startswith(flag) and "finite" in message


def test_every_number_option_has_a_range() -> None:
    numeric = {spec.flag for spec in LOAD_OPTIONS if spec.type in (int, float)}
    assert numeric == {flag for flag, _, _ in NUMBER_RANGES}


@pytest.mark.parametrize(
    "flag", ["--receiver-queue-size", "--permits", "--ack-timeout-ms", "--nack-delay-ms", "--keys"]
)
def test_what_the_endpoint_parses_as_a_java_int_stops_at_its_limit(flag: str) -> None:
    assert getattr(parse(flag, str(JAVA_INT_MAX)), flag.lstrip("-").replace("-", "_")) == JAVA_INT_MAX
    assert f"{flag} must be between" in refusal(flag, str(JAVA_INT_MAX + 1))


@pytest.mark.parametrize(("value", "accepted"), [("0", True), ("1", False), ("999", False), ("1000", True)])
def test_ack_timeout_is_off_or_at_least_pulsars_least(value: str, accepted: bool) -> None:
    if accepted:
        assert parse("--ack-timeout-ms", value).ack_timeout_ms == int(value)
    else:
        assert "at least 1000" in refusal("--ack-timeout-ms", value)


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--duration", "1e300"], "--duration must be between 0 and 31622400"),
        (["--drain-timeout", str(MAX_SECONDS + 1)], "--drain-timeout must be between"),
        (["--producers", "100001"], "--producers must be between 0 and 100000"),
        (["--rate", "1e12"], "--rate must be between"),
        (["--rate", "0"], "--rate must be greater than 0"),
        (["--rate", "1e-300"], "--rate must be greater than 0 messages/s (at least 0.001)"),
        (
            ["--rate-profile", "step", "--step-rates", "5", "--step-seconds", "1e-300"],
            "--step-seconds must be at least",
        ),
        (["--rate-profile", "step", "--step-rates", "5,1e-9"], "--step-rates must be comma-separated rates from"),
        (["--rate-profile", "step", "--step-rates", "5,inf"], "--step-rates"),
        (["--rate-profile", "step", "--step-rates", "5,5", "--step-seconds", str(MAX_SECONDS)], "--step-rates and"),
        (["--rate-profile", "ramp", "--ramp-from", "nan"], "--ramp-from must be a finite number"),
        (["--url", "ws://[::1:8080"], "--url 'ws://[::1:8080' is not a valid URL"),
        (["--target", "pulsar", "--url", "ws://::1]:80"], "is not a valid URL"),
        (["--region-url", "https://[zz]:80"], "--region-url"),
    ],
)
def test_out_of_range_values_name_the_option(argv: list[str], names: str) -> None:
    assert names in refusal(*argv)


def test_the_longest_spans_and_ids_allowed_are_accepted() -> None:
    settings = parse("--duration", str(MAX_SECONDS), "--run-id", "2026-12-07_run.1", "--url", "ws://[::1]:8080")
    assert settings.duration == MAX_SECONDS and settings.run_id == "2026-12-07_run.1"


@pytest.mark.parametrize(
    "run_id", ["../x", "a/b", "/abs", ".hidden", "-dash", "..", "a..b", "a b", "x\0y", "é", "x" * 129]
)
def test_a_run_id_must_be_a_plain_name(run_id: str) -> None:
    assert refusal(f"--run-id={run_id}").startswith("--run-id ")


def test_check_range_shows_whole_numbers_plainly() -> None:
    with pytest.raises(SettingsError, match=r"--x must be between 0 and 2147483647, not 2147483648$"):
        check_range("--x", JAVA_INT_MAX + 1, 0, JAVA_INT_MAX)
    with pytest.raises(SettingsError, match=r"--y must be a finite number, not nan$"):
        check_range("--y", float("nan"), 0, 1)


# --- the URL's scheme chooses the protocol ----------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "native"),
    [
        (["--target", "pulsar", "--url", "pulsar://broker.example:6650"], True),
        (["--target", "pulsar", "--url", "pulsar+ssl://broker.example:6651"], True),
        (["--target", "pulsar", "--url", "pulsar://broker.example"], True),
        (["--target", "pulsar", "--url", "ws://proxy.example:8080"], False),
        (["--target", "pulsar", "--url", "https://proxy.example"], False),
        (["--target", "pulsar-lite"], True),
        (["--target", "pulsar-lite", "--url", "pulsar://127.0.0.1:6650"], True),
        (["--target", "emulator"], False),
    ],
)
def test_the_scheme_chooses_the_binary_protocol_or_websockets(argv: list[str], native: bool) -> None:
    assert parse(*argv).native_protocol is native


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--target", "pulsar", "--url", "kafka://h:9092"], "--url must start with pulsar://, pulsar+ssl://, ws://"),
        (["--target", "pulsar", "--url", "pulsar:/h:6650"], "--url must start with pulsar://"),
        (["--target", "pulsar", "--url", "pulsar://:6650"], "has no host"),
        (["--target", "pulsar", "--url", "pulsar://h:0"], "has a bad port"),
        (["--target", "pulsar", "--url", "pulsar://h:99999"], "has a bad port"),
        (["--target", "emulator", "--url", "pulsar://h:6650"], "must start with ws://, wss://, http:// or https://"),
        (["--target", "gdn", "--url", "pulsar://h:6650", "--api-key", "a.b.c"], "--url must start with ws://"),
        (["--target", "pulsar-lite", "--url", "ws://h:8080"], "--url must start with pulsar:// or pulsar+ssl://"),
        (["--batching"], "--batching needs the binary protocol"),
        (["--target", "pulsar", "--url", "ws://h:8080", "--batching"], "--batching needs the binary protocol"),
    ],
)
def test_a_scheme_the_target_cannot_speak_is_one_line(argv: list[str], fragment: str) -> None:
    assert fragment in refusal(*argv)


def test_batching_is_off_by_default_and_accepted_on_the_binary_protocol() -> None:
    assert parse().batching is False
    assert parse("--target", "pulsar", "--url", "pulsar://h:6650", "--batching").batching is True
    assert parse("--target", "pulsar-lite", "--batching").batching is True
    args = to_arguments(parse("--target", "pulsar-lite", "--batching"))
    assert "--batching" in args and args[args.index("--batching") + 1 :][:1] != ["True"]


def test_the_token_of_a_native_run_stays_off_the_command_line_and_out_of_run_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.events.runfolder import redact

    monkeypatch.setenv("STREAMHARNESS_TOKEN", "eyJ.native.secret")
    settings = parse("--target", "pulsar", "--url", "pulsar+ssl://broker.example:6651")
    assert settings.token == "eyJ.native.secret"
    assert "eyJ.native.secret" not in " ".join(to_arguments(settings))
    assert secret_environment(settings) == {"STREAMHARNESS_TOKEN": "eyJ.native.secret"}
    assert "eyJ.native.secret" not in repr(redact(settings.as_dict()))  # what run.json's settings hold


def test_the_binary_protocol_takes_payloads_up_to_pulsars_message_limit_not_the_proxys_frame_limit() -> None:
    assert parse("--target", "pulsar-lite", "--size", "2000000").size == 2_000_000  # over a 1 MiB text frame
    assert "frame limit" in refusal("--target", "pulsar", "--url", "ws://h:1", "--size", "2000000")
    assert "5242880-byte message limit" in refusal("--target", "pulsar-lite", "--size", "5242880")
