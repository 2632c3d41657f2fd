"""A hand-built WebShop catalogue with literal prices and attributes, for exact rewards."""

from rlx.envs.webshop import Catalogue, Goal, Product, Review

SHAMPOO_PATH = "Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Shampoos"


def product(asin, title, price, query="shampoo & conditioner", path=SHAMPOO_PATH, category="beauty", **extra):
    fields = dict(
        asin=asin,
        title=title,
        description=extra.pop("description", "A gentle shampoo."),
        bullets=extra.pop("bullets", ("Sulfate free formula.", "Made in USA.")),
        pricing=(price,),
        price_tag=f"${price}",
        options=extra.pop("options", {"scent": ("lavender", "rose"), "size": ("8 fl oz", "16 fl oz")}),
        attributes=extra.pop("attributes", ("shampoo", "sulfate free", "argan oil")),
        category=category,
        query=query,
        product_category=path,
    )
    return Product(**fields, **extra)


SHOP_PRODUCTS = (
    product(
        "B000000001",
        "Lumora Sulfate Free Argan Oil Shampoo",
        20.0,
        reviews=(Review("Love it", 5, "Smells great."), Review("Okay", 3, "Fine.")),
        rating="4.0",
    ),
    product("B000000002", "Lumora Sulfate Free Argan Oil Shampoo Salon Size", 45.0),
    product(
        "B000000003",
        "Vexa Wireless Earbuds with Charging Case",
        25.0,
        query="earbud headphones",
        path="Electronics › Headphones, Earbuds & Accessories › Headphones",
        category="electronics",
        options={"color": ("black", "white")},
        attributes=("wireless bluetooth",),
        description="Bluetooth earbuds.",
        bullets=("Long battery life.",),
    ),
)
SHOP_GOAL = Goal(
    asin="B000000001",
    instruction=(
        "i need a sulfate free shampoo with argan oil in lavender scent, 16 fl oz, "
        "and price lower than 30.00 dollars"
    ),
    attributes=("sulfate free", "argan oil"),
    options=("lavender", "16 fl oz"),
    price_upper=30.0,
    name="Lumora Sulfate Free Argan Oil Shampoo",
    query="shampoo & conditioner",
    category="beauty",
    product_category=SHAMPOO_PATH,
)
BUY_TARGET = [
    "search[sulfate free argan oil shampoo]",
    "click[b000000001]",
    "click[lavender]",
    "click[16 fl oz]",
    "click[buy now]",
]


class TinyShop:
    """A catalogue source with three hand-made products and one goal (for literal rewards)."""

    def key(self) -> str:
        return "tiny-shop-v1"

    def __call__(self) -> Catalogue:
        prices = {p.asin: p.pricing[0] for p in SHOP_PRODUCTS}
        return Catalogue("tiny", SHOP_PRODUCTS, prices, (SHOP_GOAL,))


def play_episode(env, task, actions):
    """Reset `env` on `task` and take `actions`; returns the steps (used across processes)."""
    env.reset(task, seed=0)
    return [env.step(a) for a in actions]
