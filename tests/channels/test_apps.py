import pytest
from pydantic import ValidationError

from tidings.channels.apps import MAX_APP_ID_LENGTH, MAX_APP_KEY_LENGTH, App, AppLimits, is_storable_text


@pytest.mark.parametrize("text", ["", "1234567", "278d425bdf160c739803", "clé-ü", "🙂"])
def test_ordinary_text_is_storable(text):
    assert is_storable_text(text)


@pytest.mark.parametrize("text", ["a\x00b", "\x00", "a\ud800", "\udfff"])
def test_nul_and_lone_surrogates_are_not_storable(text):
    assert not is_storable_text(text)


def test_ids_and_keys_up_to_the_bound_are_accepted():
    app = App(id="1" * MAX_APP_ID_LENGTH, key="k" * MAX_APP_KEY_LENGTH, secret="s")
    assert (len(app.id), len(app.key)) == (255, 255)


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "1" * (MAX_APP_ID_LENGTH + 1)},
        {"key": "k" * (MAX_APP_KEY_LENGTH + 1)},
        {"id": "1\x00"},
        {"key": "key\x00"},
        {"key": "key\ud800"},
    ],
)
def test_an_id_or_key_storage_could_not_look_up_is_refused(fields):
    # Lookups answer "not found" for these without a query; the model keeps that true by admitting none.
    with pytest.raises(ValidationError):
        App.model_validate({"id": "1", "key": "k", "secret": "s", **fields})


def test_channels_per_connection_default_to_1000_and_may_be_unlimited():
    assert AppLimits().max_channels_per_connection == 1000
    assert AppLimits(max_channels_per_connection=None).max_channels_per_connection is None
    assert AppLimits.model_validate({"max_channels_per_connection": "5"}).max_channels_per_connection == 5


@pytest.mark.parametrize("bad", [0, -1, "many"])
def test_channels_per_connection_must_be_a_positive_integer(bad):
    with pytest.raises(ValidationError):
        AppLimits.model_validate({"max_channels_per_connection": bad})
