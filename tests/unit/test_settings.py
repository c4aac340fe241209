"""Settings validation: every bad value is one line that names its option."""

from __future__ import annotations

import argparse

import pytest

from harness.settings import LOAD_OPTIONS, LoadSettings, SettingsError, add_options, secret_environment, to_arguments


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
