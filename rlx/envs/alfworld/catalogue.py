"""The catalogue rlx's ALFWorld generator draws from: task types, rooms, receptacles, objects.

Class names are ALFRED's (`alfworld.gen.constants.OBJECTS`). Which receptacle type may hold
which object (`canContain`), and which objects can be cleaned, heated or cooled, are read from
`alfworld.gen.constants` (`VAL_RECEPTACLE_OBJECTS`, `VAL_ACTION_OBJECTS`) at generation time;
the rooms below only say what is found where. Which task type may happen in which room
follows ALFRED's `GOALS_VALID`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TaskType = Literal[
    "pick_and_place",
    "look_at_obj_in_light",
    "pick_clean_then_place",
    "pick_heat_then_place",
    "pick_cool_then_place",
    "pick_two_obj_and_place",
]
TASK_TYPES: tuple[TaskType, ...] = (
    "pick_and_place",
    "look_at_obj_in_light",
    "pick_clean_then_place",
    "pick_heat_then_place",
    "pick_cool_then_place",
    "pick_two_obj_and_place",
)

# rlx's short task-type names <-> ALFWorld's (`traj_data.json["task_type"]`, goal_library keys).
ALFRED_TASK_TYPE: dict[TaskType, str] = {
    "pick_and_place": "pick_and_place_simple",
    "look_at_obj_in_light": "look_at_obj_in_light",
    "pick_clean_then_place": "pick_clean_then_place_in_recep",
    "pick_heat_then_place": "pick_heat_then_place_in_recep",
    "pick_cool_then_place": "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place": "pick_two_obj_and_place",
}
SHORT_TASK_TYPE: dict[str, TaskType] = {v: k for k, v in ALFRED_TASK_TYPE.items()}

# The appliance a state-changing task needs, and the receptacle type naming it in PDDL.
APPLIANCE: dict[TaskType, str] = {
    "pick_clean_then_place": "SinkBasin",
    "pick_heat_then_place": "Microwave",
    "pick_cool_then_place": "Fridge",
}
# The action-object class (`VAL_ACTION_OBJECTS` key) each state-changing task needs.
ACTION_CLASS: dict[TaskType, str] = {
    "pick_clean_then_place": "Cleanable",
    "pick_heat_then_place": "Heatable",
    "pick_cool_then_place": "Coolable",
}
OPENABLE = frozenset({"Fridge", "Cabinet", "Microwave", "Drawer", "Safe"})  # ALFRED's, less Box
LAMP = "DeskLamp"
LAMP_HOSTS = ("Desk", "SideTable", "Dresser")  # where a desk lamp stands (ALFRED has no entry)

Room = Literal["Kitchen", "LivingRoom", "Bedroom", "Bathroom"]
ROOMS: tuple[Room, ...] = ("Kitchen", "LivingRoom", "Bedroom", "Bathroom")

# ALFRED's GOALS_VALID, in rlx's names.
ROOMS_FOR_TASK: dict[TaskType, tuple[Room, ...]] = {
    "pick_and_place": ("Kitchen", "LivingRoom", "Bedroom", "Bathroom"),
    "pick_two_obj_and_place": ("Kitchen", "LivingRoom", "Bedroom", "Bathroom"),
    "look_at_obj_in_light": ("LivingRoom", "Bedroom"),
    "pick_clean_then_place": ("Kitchen", "Bathroom"),
    "pick_heat_then_place": ("Kitchen",),
    "pick_cool_then_place": ("Kitchen",),
}


@dataclass(frozen=True)
class RoomSpec:
    """What a room of one kind holds.

    receptacles: (receptacle class, min count, max count); a layout draws each count.
    objects: the object classes that may appear (placed only where `canContain` allows).
    """

    receptacles: tuple[tuple[str, int, int], ...]
    objects: tuple[str, ...]


ROOM_SPECS: dict[Room, RoomSpec] = {
    "Kitchen": RoomSpec(
        receptacles=(
            ("Cabinet", 3, 7), ("CounterTop", 1, 2), ("Drawer", 1, 4), ("Fridge", 1, 1),
            ("Microwave", 1, 1), ("SinkBasin", 1, 1), ("StoveBurner", 2, 4),
            ("CoffeeMachine", 1, 1), ("GarbageCan", 1, 1), ("DiningTable", 0, 1),
            ("Shelf", 0, 2), ("Toaster", 0, 1),
        ),
        objects=(
            "Apple", "Bowl", "Bread", "ButterKnife", "Cup", "DishSponge", "Egg", "Fork", "Kettle",
            "Knife", "Ladle", "Lettuce", "Mug", "Pan", "PepperShaker", "Plate", "Pot", "Potato",
            "SaltShaker", "SoapBottle", "Spatula", "Spoon", "Tomato", "WineBottle",
        ),
    ),
    "LivingRoom": RoomSpec(
        receptacles=(
            ("Sofa", 1, 1), ("ArmChair", 0, 2), ("CoffeeTable", 1, 1), ("SideTable", 1, 2),
            ("Drawer", 0, 3), ("Cabinet", 0, 3), ("Shelf", 0, 3), ("TVStand", 0, 1),
            ("GarbageCan", 1, 1), ("DiningTable", 0, 1), ("Ottoman", 0, 1), ("Dresser", 0, 1),
        ),
        objects=(
            "Book", "Bowl", "Box", "Candle", "CellPhone", "CreditCard", "KeyChain", "Laptop",
            "Newspaper", "Pillow", "Plate", "RemoteControl", "Statue", "TissueBox", "Vase",
            "Watch", "WateringCan",
        ),
    ),
    "Bedroom": RoomSpec(
        receptacles=(
            ("Bed", 1, 1), ("Desk", 0, 1), ("SideTable", 1, 2), ("Dresser", 0, 1),
            ("Drawer", 2, 5), ("Shelf", 0, 3), ("GarbageCan", 1, 1), ("ArmChair", 0, 1),
            ("LaundryHamper", 0, 1), ("Safe", 0, 1),
        ),
        objects=(
            "AlarmClock", "BaseballBat", "BasketBall", "Book", "Bowl", "CD", "CellPhone",
            "Cloth", "CreditCard", "KeyChain", "Laptop", "Mug", "Pen", "Pencil", "Pillow",
            "TennisRacket", "TissueBox", "Watch",
        ),
    ),
    "Bathroom": RoomSpec(
        receptacles=(
            ("Toilet", 1, 1), ("SinkBasin", 1, 2), ("BathtubBasin", 0, 1), ("Cabinet", 2, 4),
            ("CounterTop", 1, 1), ("Drawer", 0, 3), ("GarbageCan", 1, 1),
            ("HandTowelHolder", 1, 1), ("TowelHolder", 0, 1), ("ToiletPaperHanger", 1, 1),
            ("Shelf", 0, 2), ("Cart", 0, 1),
        ),
        objects=(
            "Candle", "Cloth", "DishSponge", "HandTowel", "Plunger", "SoapBar", "SoapBottle",
            "SprayBottle", "TissueBox", "ToiletPaper", "Towel",
        ),
    ),
}
