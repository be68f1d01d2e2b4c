async def test_municipalities_public(gql):
    body = await gql("{ municipalities { code name currentPeriod { id } } viewer { role children { id } } }")
    assert body["data"]["municipalities"][0] == {
        "code": "01",
        "name": "Городской округ Светлогорск",
        "currentPeriod": None,
    }
    assert body["data"]["viewer"] == {"role": None, "children": []}
