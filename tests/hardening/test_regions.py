"""One deployment per region (docs/scaling.md §6): the server says which region it serves (/readyz,
/metrics), refuses a token issued for another region with 421 WRONG_REGION, and answers a certificate
number of another region with WRONG_REGION, each naming that region so that the client (or a
gateway) can go to its deployment."""

from __future__ import annotations

import httpx

VIEWER = "{ viewer { role municipality } }"


async def post(client: httpx.AsyncClient, token: str, lang: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"}
    if lang:
        headers["accept-language"] = lang
    return await client.post("/graphql", json={"query": VIEWER}, headers=headers)


async def test_a_token_of_another_region_is_refused_with_the_region_it_names(app, token, db):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        elsewhere = token("OPERATOR", "op-01", municipality="01", region="50")
        refused = await post(client, elsewhere)
        assert refused.status_code == 421
        assert refused.headers["cache-control"] == "no-store"
        [error] = refused.json()["errors"]
        assert error["extensions"]["code"] == "WRONG_REGION" and error["extensions"]["region"] == "50"
        assert error["message"] == "Токен выдан для региона 50, а этот сервер обслуживает регион 77"
        assert "data" not in refused.json()
        english = (await post(client, elsewhere, "en")).json()["errors"][0]["message"]
        assert english == "The token was issued for region 50; this server serves region 77"
        # the region's own token, and a token naming no region (the deployment's own issuer), are served
        for accepted in (
            token("OPERATOR", "op-01", municipality="01", region="77"),
            token("OPERATOR", "op-01", municipality="01"),
        ):
            answered = await post(client, accepted)
            assert answered.status_code == 200
            assert answered.json()["data"]["viewer"] == {"role": "OPERATOR", "municipality": "01"}


async def test_the_server_names_its_region_for_the_balancer(app, db):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/readyz")).json() == {"status": "ready", "region": "77"}
        metrics = (await client.get("/metrics")).text
    assert 'pdo_region_info{region="77"} 1.0' in metrics


async def test_a_certificate_number_of_another_region_names_that_region(gql, token, db):
    operator = token("OPERATOR", "op-01", municipality="01")
    query = "query($n: String!) { certificateByNumber(number: $n) { id } }"
    elsewhere = await gql(query, {"n": "5001000001"}, token=operator)
    [error] = elsewhere["errors"]
    assert error["extensions"]["code"] == "WRONG_REGION" and error["extensions"]["region"] == "50"
    assert error["message"] == "Сертификат выдан в регионе 50: он в системе того региона"
    assert elsewhere["data"] is None or elsewhere["data"]["certificateByNumber"] is None
    # a number of this region that no certificate has is simply not there
    here = await gql(query, {"n": "7701999999"}, token=operator)
    assert "errors" not in here and here["data"]["certificateByNumber"] is None
