"""A FastAPI app served by ondol: Mangum turns API Gateway events into ASGI."""
import platform

from fastapi import FastAPI, HTTPException
from mangum import Mangum
from pydantic import BaseModel

app = FastAPI(title="ondol + FastAPI")
ITEMS = {1: {"name": "kettle", "price": 30.0}}


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


@app.get("/")
def root():
    return {"hello": "from FastAPI on ondol", "python": platform.python_version()}


@app.get("/items/{item_id}")
def read_item(item_id: int):
    if item_id not in ITEMS:
        raise HTTPException(status_code=404, detail="no such item")
    return ITEMS[item_id]


@app.post("/items", status_code=201)
def create_item(item: Item):
    item_id = max(ITEMS) + 1
    ITEMS[item_id] = item.model_dump()
    return {"id": item_id, **ITEMS[item_id]}


handler = Mangum(app, lifespan="off")
