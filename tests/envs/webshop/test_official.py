import json

import pytest

from rlx.envs.webshop import OfficialCatalogue, WebShopEnv
from rlx.envs.webshop.official import parse_pricing


def sample_catalogue(sample_dir, **kwargs):
    return OfficialCatalogue(
        str(sample_dir / "products_sample.json"),
        str(sample_dir / "items_ins_v2_sample.json"),
        **{"goals": "synthetic", **kwargs},
    )


def test_records_are_read_as_webshop_reads_them(sample_dir):
    """The sample records also carry the fields WebShop derives at load: ours must agree."""
    records = json.loads((sample_dir / "products_sample.json").read_text())
    catalogue = sample_catalogue(sample_dir)()
    assert len(catalogue.products) == 20
    for record in records:
        product = catalogue.by_asin[record["asin"]]
        assert product.title == record["Title"] and product.description == record["Description"]
        assert list(product.bullets) == record["BulletPoints"]
        assert product.price_tag == record["Price"] and list(product.pricing) == record["pricing"]
        assert {name: list(values) for name, values in product.options.items()} == record["options"]
        assert list(product.attributes) == record["Attributes"]
        assert product.rating == record["Rating"] == "N.A."
        assert (product.query, product.category) == (record["query"], record["category"])
    dress = catalogue.by_asin["B08ZRR3DZT"]
    assert dress.price_tag == "$19.99 to $27.99" and 19.99 <= catalogue.prices["B08ZRR3DZT"] <= 27.99
    assert catalogue.by_asin["B09QXG3BM2"].options == {
        "size": ("small", "medium", "large", "x-large")
    }  # Color: null


def test_synthetic_goals_from_the_sample(sample_dir):
    catalogue = sample_catalogue(sample_dir)()
    # 8 products have an instruction: 1 + 1 + 5*8 + 13 + 2 + 5*8 + 2 + 4*7 option combinations
    assert len(catalogue.goals) == 127 and catalogue.name == "official-synthetic"
    shampoo = [g for g in catalogue.goals if g.asin == "B07B6DVG41"]
    assert len(shampoo) == 1 and shampoo[0].options == ()
    text, bound = shampoo[0].instruction, shampoo[0].price_upper
    assert bound in (50.0, 60.0, 70.0)  # $34: the larger of two of 40, 50, 60, 70
    assert text == (
        "Find me sulfate free, paraben free shampoo & conditioner with hyaluronic acid, coconut oil "
        f"for damaged hair, hair growth, hair loss, and price lower than {bound:.2f} dollars"
    )
    dresses = [g for g in catalogue.goals if g.asin == "B08ZRR3DZT"]
    assert len(dresses) == 40 and len({g.options for g in dresses}) == 40
    assert all(" with color: " in g.instruction and ", and size: " in g.instruction for g in dresses)
    assert sample_catalogue(sample_dir)() == catalogue  # same seed, same goals in the same order
    assert [g.asin for g in sample_catalogue(sample_dir, seed=1)().goals] != [g.asin for g in catalogue.goals]


def test_human_goals_and_reviews(sample_dir, tmp_path):
    human = tmp_path / "items_human_ins.json"
    human.write_text(
        json.dumps(
            {
                "B08ZRR3DZT": [
                    {
                        "asin": "B08ZRR3DZT",
                        "instruction": "i want a black bodycon dress in size small.",
                        "instruction_attributes": ["bodycon"],
                        "instruction_options": ["black", "small"],
                    },
                    {
                        "asin": "B08ZRR3DZT",
                        "instruction": "no attributes",
                        "instruction_attributes": [],
                        "instruction_options": [],
                    },
                ],
                "B06Y3VLDFB": [
                    {
                        "asin": "B06Y3VLDFB",
                        "instruction": "i need a solid wood console table",
                        "instruction_attributes": ["solid wood"],
                        "instruction_options": [],
                    }
                ],
            }
        )
    )
    reviews = tmp_path / "reviews.json"
    reviews.write_text(
        json.dumps(
            [
                {
                    "asin": "B06Y3VLDFB",
                    "average_rating": 4.5,
                    "reviews": [{"title": "Sturdy", "stars": "5.0", "review": "Nice wood."}],
                }
            ]
        )
    )
    catalogue = sample_catalogue(
        sample_dir, goals="human", human_instructions_path=str(human), reviews_path=str(reviews)
    )()
    assert catalogue.name == "official-human" and len(catalogue.goals) == 2
    dress = next(g for g in catalogue.goals if g.asin == "B08ZRR3DZT")
    assert dress.options == ("black", "small") and dress.attributes == ("bodycon",)
    assert dress.instruction.startswith("i want a black bodycon dress in size small, and price lower than ")
    table = catalogue.by_asin["B06Y3VLDFB"]
    assert table.rating == "4.5" and (table.reviews[0].title, table.reviews[0].score) == ("Sturdy", 5)
    assert next(g for g in catalogue.goals if g.asin == "B06Y3VLDFB").price_upper in (
        890.0,
        900.0,
        910.0,
    )  # $877.8
    assert len(sample_catalogue(sample_dir, num_products=5)().products) == 5


def test_episode_on_real_records(sample_dir):
    env = WebShopEnv(sample_catalogue(sample_dir), test_goals=27, dev_goals=0, max_steps=15)
    task = next(t for t in env.tasks("train") if t.answer == "B08ZRR3DZT")
    goal = env.shop.goals[task.uid]
    assert task.task_type == "fashion"
    env.reset(task, seed=0)
    results = env.step("search[women's dresses polyester spandex]")
    assert "Page 1 (Total results: 8)" in results.observation.text
    assert results.observation.admissible[1] == "click[b08zrr3dzt]"  # the best hit
    env.step("click[b08zrr3dzt]")
    for value in goal.options:
        assert env.step(f"click[{value}]").action_valid
    assert env.step("click[buy now]").reward == 1.0
    # the lingerie set: same category path pieces, 1 of 8 title nouns, no attributes or options
    env.reset(task, seed=0)
    for action in ("search[lingerie]", "click[b09qxg3bm2]", "click[small]"):
        env.step(action)
    assert env.step("click[buy now]").reward == pytest.approx(1 / 5)  # price only: 1 of 2 + 2 + 1


@pytest.mark.parametrize(
    ("pricing", "parsed"),
    [
        ("$19.99 to $27.99", [19.99, 27.99]),
        ("$1,299.00", [1299.0]),
        ("", []),
        (None, []),
        ([12.5], [12.5]),
        ("$5.49$6.99$7.99", [5.49, 6.99]),
    ],
)
def test_parse_pricing(pricing, parsed):
    assert parse_pricing(pricing) == parsed


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="setup.sh"):
        OfficialCatalogue(
            str(tmp_path / "items_shuffle_1000.json"), str(tmp_path / "x.json"), goals="synthetic"
        )()
    with pytest.raises(ValueError, match="human_instructions_path"):
        OfficialCatalogue(str(tmp_path / "a.json"), str(tmp_path / "b.json"), goals="human")
