"""ToyWalkEnv whose first training task kills its worker process at reset (os._exit)."""

from tests.envs.toy_env import ToyWalkEnv


class CrashyWalkEnv(ToyWalkEnv):
    def tasks(self, split):
        tasks = list(super().tasks(split))
        if split == "train":
            first = tasks[0]
            tasks[0] = type(first)(uid=f"{first.uid}-crash-reset", prompt=first.prompt,
                                   answer=first.answer, task_type=first.task_type)
        return tasks
