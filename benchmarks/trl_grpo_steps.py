"""TRL's side of `benchmarks/vs_trl.py`: `GRPOTrainer` steps on the prompts vs_trl.py wrote.

Runs in TRL's own virtual environment (made by vs_trl.py), so it imports nothing from rlx:

    <trl venv>/bin/python benchmarks/trl_grpo_steps.py SPEC.json RESULT.json

SPEC.json: {"model": HF folder, "prompts": [chat messages, ...] in training order,
"answers": [...], "steps", "group_size", "prompts_per_step", "max_new_tokens", "lr",
"micro_batch_size", "seed"}. RESULT.json: {"step_s": [seconds per optimizer step], ...}.
One step = generation of prompts_per_step x group_size completions, rewards, advantages and
one optimizer step (num_iterations=1), timed from one step's end to the next (the first from
the start of training). The reward (1 if the reference answer is the completion's last number)
only gives the update a signal; speed is what is compared, not rewards.
"""

from __future__ import annotations

import json
import re
import sys
import time

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import GRPOConfig, GRPOTrainer


class StepTimes(TrainerCallback):
    def __init__(self):
        self.ends: list[float] = []
        self.start = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())

    def step_seconds(self) -> list[float]:
        marks = [self.start, *self.ends]
        return [b - a for a, b in zip(marks, marks[1:])]


def last_number_reward(answers_by_prompt: dict[str, str]):
    def reward(prompts, completions, **kwargs):
        out = []
        for prompt, completion in zip(prompts, completions):
            text = completion[-1]["content"] if isinstance(completion, list) else completion
            numbers = re.findall(r"-?\d+(?:\.\d+)?", text)
            key = prompt[-1]["content"] if isinstance(prompt, list) else prompt
            out.append(1.0 if numbers and numbers[-1] == answers_by_prompt.get(key) else 0.0)
        return out
    return reward


def main(spec_path: str, result_path: str) -> None:
    spec = json.loads(open(spec_path).read())
    torch.manual_seed(spec["seed"])
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32)
    per_step = spec["prompts_per_step"] * spec["group_size"]
    micro = min(spec["micro_batch_size"], per_step)
    config = GRPOConfig(
        output_dir=spec["output_dir"], max_steps=spec["steps"], learning_rate=spec["lr"],
        beta=0.0, num_generations=spec["group_size"], max_completion_length=spec["max_new_tokens"],
        per_device_train_batch_size=micro, gradient_accumulation_steps=per_step // micro,
        num_iterations=1, temperature=1.0, top_k=0, top_p=1.0, shuffle_dataset=False,
        gradient_checkpointing=False, bf16=False, use_cpu=True, report_to="none",
        logging_steps=1, save_strategy="no", seed=spec["seed"], lr_scheduler_type="constant",
        warmup_steps=0, max_grad_norm=1.0, weight_decay=0.0,
    )
    dataset = Dataset.from_list([{"prompt": p} for p in spec["prompts"]])
    answers = {p[-1]["content"]: a for p, a in zip(spec["prompts"], spec["answers"])}
    timer = StepTimes()
    trainer = GRPOTrainer(model=model, reward_funcs=last_number_reward(answers), args=config,
                          train_dataset=dataset, processing_class=tokenizer, callbacks=[timer])
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    json.dump({"step_s": timer.step_seconds(), "reward": rewards,
               "config": {"per_device_train_batch_size": micro,
                          "gradient_accumulation_steps": per_step // micro}},
              open(result_path, "w"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
