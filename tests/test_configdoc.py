from pathlib import Path

from tidings.configdoc import render


def test_configuration_doc_is_generated_from_the_schema():
    doc = Path(__file__).parent.parent / "docs" / "configuration.md"
    stale = "docs/configuration.md is stale: run `tidings config-docs > docs/configuration.md`"
    assert doc.read_text() == render(), stale
