from pathlib import Path

from seggraph.api.schema import schema_sdl

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_sdl(), (
        "schema.graphql is out of date: run `./run seggraph export-schema` and commit it"
    )


def test_export_schema_writes_the_file_and_says_so_when_it_cannot(tmp_path: Path) -> None:
    from tests.plugins.test_cli import seggraph

    written = seggraph("export-schema", str(tmp_path / "s.graphql"), cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "s.graphql").read_text(encoding="utf-8") == schema_sdl()
    refused = seggraph("export-schema", str(tmp_path / "no" / "such" / "s.graphql"), cwd=tmp_path)
    assert refused.returncode == 1
    assert "could not write" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
