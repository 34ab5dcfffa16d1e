"""API keys: 401 without detail for a missing or wrong key, the right key in either header works, open paths stay
open, and no key ever appears in logs or in the settings' repr."""

from __future__ import annotations

import logging

import pytest

from sentimentkit.serve.settings import API_KEYS_ENV, ServeSettings, SettingsError, load_api_keys

KEY = "k-3f9a1c7e5b"
OTHER = "k-0000000000"
BODY = {"texts": ["good"]}


@pytest.fixture
def client(make_client):
    return make_client(api_keys=(OTHER, KEY))


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY + "x"}, {"X-API-Key": ""}, {"Authorization": f"Basic {KEY}"},
     {"Authorization": "Bearer"}, {"X-API-Key": "ключ".encode()}],
)  # fmt: skip
def test_missing_or_wrong_key_is_401_without_detail(client, headers):
    for method, path in [("POST", "/v1/analyze"), ("GET", "/v1/models"), ("GET", "/metrics"),
                         ("POST", "/v1/analyze/file"), ("GET", "/v1/unknown")]:  # fmt: skip
        r = client.request(method, path, headers=headers, json=BODY if method == "POST" else None)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.json() == {"detail": "unauthorized"}


def test_unauthenticated_requests_are_refused_before_the_body_is_read(client):
    r = client.post("/v1/analyze", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 401  # not 422: nothing about the API is told to a client without a key


@pytest.mark.parametrize("headers", [{"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}, {"X-API-Key": OTHER}])
def test_right_key_in_either_header(client, headers):
    assert client.post("/v1/analyze", json=BODY, headers=headers).status_code == 200
    assert client.get("/metrics", headers=headers).status_code == 200
    assert client.get("/openapi.json", headers=headers).status_code == 200
    assert client.get("/docs", headers=headers).status_code == 200


def test_page_static_and_health_are_open(client):
    for path in ("/healthz", "/readyz", "/"):
        assert client.get(path).status_code == 200, path


def test_the_api_description_is_open_and_served_without_a_cdn(client):
    """A browser following the page's "API docs" link cannot send the key header; the description holds no data."""
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower() and "http://" not in docs.text and "https://" not in docs.text
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert "/v1/analyze" in client.get("/openapi.json").json()["paths"]


def test_no_key_configured_means_open(make_client):
    assert make_client().post("/v1/analyze", json=BODY).status_code == 200


def test_no_key_in_logs(make_client, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    client = make_client(api_keys=(KEY,))
    client.post("/v1/analyze", json=BODY, headers={"X-API-Key": KEY})
    client.post("/v1/analyze", json=BODY, headers={"X-API-Key": "guess-" + KEY[::-1]})
    client.post("/v1/analyze", json=BODY, headers={"Authorization": f"Bearer {KEY}"})
    client.get("/metrics", headers={"X-API-Key": KEY})
    logged = caplog.text + "".join(str(r.args) for r in caplog.records) + "".join(capsys.readouterr())
    assert KEY not in logged and KEY[::-1] not in logged
    assert KEY not in client.get("/metrics", headers={"X-API-Key": KEY}).text
    assert KEY not in repr(ServeSettings(api_keys=(KEY,)))


def test_keys_from_env_and_file(tmp_path):
    file = tmp_path / "keys.txt"
    file.write_text("# service keys\nkey-one\n\n  key-two  \n", encoding="utf-8")
    keys = load_api_keys(file, {API_KEYS_ENV: "env-a, env-b,,"})
    assert keys == ("env-a", "env-b", "key-one", "key-two")
    assert load_api_keys(None, {}) == ()


def test_an_empty_keys_file_is_an_error_not_an_open_service(tmp_path):
    file = tmp_path / "keys.txt"
    file.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="no API key"):
        load_api_keys(file, {})
    with pytest.raises(SettingsError, match="cannot read"):
        load_api_keys(tmp_path / "missing.txt", {})


def test_worker_processes_get_settings_but_not_keys_through_the_environment(tmp_path):
    from sentimentkit.serve.settings import SETTINGS_ENV

    file = tmp_path / "keys.txt"
    file.write_text("file-key\n", encoding="utf-8")
    settings = ServeSettings(max_batch=7, api_keys=("file-key", "env-key"), api_keys_file=str(file))
    env = settings.to_env()
    assert "file-key" not in env and "env-key" not in env
    again = ServeSettings.from_env({SETTINGS_ENV: env, API_KEYS_ENV: "env-key"})
    assert again.max_batch == 7 and set(again.api_keys) == {"file-key", "env-key"}
