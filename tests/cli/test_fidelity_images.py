"""The images of a scenario mapped to the two test hosts have: only image arguments
change, every other word reads back the same; a third image, and a line whose image
cannot be replaced alone, are refused by name; a compose file naming another image
is refused; local tags are kept."""

from __future__ import annotations

import pytest

from cli.fidelity import images
from cli.fidelity.images import map_images
from cli.scenario.schema import Scenario, ScenarioError, parse

ONE, TWO = "local/busybox:1", "local/busybox:2"


def scenario(*commands: str, files: str = "") -> Scenario:
    steps = "".join(f"  - {{at: {i}s, run: {c!r}}}\n" for i, c in enumerate(commands))
    return parse(f"cluster: {{managers: 1}}\n{files}steps:\n{steps}", "images.yml")


def mapped(*commands: str) -> tuple[list[str], dict[str, str]]:
    made, mapping = map_images(scenario(*commands))
    return [step.run for step in made.steps], mapping


def test_two_images_become_the_two_local_ones_in_order_of_appearance() -> None:
    runs, mapping = mapped(
        "service create --name web --replicas 3 --env 'GREETING=hello nginx' nginx:1.27",
        "service create --name db redis",
        "docker service update --image redis:latest db",
        "service update --image=nginx:1.27 --update-parallelism 2 web",
        "service scale web=5",
    )
    assert mapping == {"nginx:1.27": ONE, "redis": TWO, "redis:latest": TWO}
    assert runs == [
        "service create --name web --replicas 3 --env 'GREETING=hello nginx' " + ONE,
        f"service create --name db {TWO}",
        f"docker service update --image {TWO} db",
        f"service update --image={ONE} --update-parallelism 2 web",
        "service scale web=5",
    ]


def test_only_the_image_word_changes_not_a_word_equal_to_it() -> None:
    runs, _ = mapped("service create --name nginx nginx nginx -g 'daemon off;'")
    assert runs == [f"service create --name nginx {ONE} nginx -g 'daemon off;'"]
    runs, _ = mapped("service update --env-add IMAGE=nginx --image nginx --label-add nginx web")
    assert runs == [f"service update --env-add IMAGE=nginx --image {ONE} --label-add nginx web"]


def test_a_local_tag_named_is_kept_and_taken() -> None:
    runs, mapping = mapped(f"service create --name a {ONE}", "service update --image app:2 a")
    assert mapping == {"app:2": TWO}
    assert runs == [f"service create --name a {ONE}", f"service update --image {TWO} a"]


def test_a_scenario_of_local_images_is_left_as_it_is() -> None:
    original = scenario(f"service create --name a {ONE}", f"service update --image {TWO} a")
    assert map_images(original) == (original, {})


def test_a_third_image_is_refused_by_name() -> None:
    with pytest.raises(ScenarioError) as refused:
        mapped(
            "service create --name a nginx",
            "service create --name b redis:7",
            "service create --name c alpine",
        )
    assert str(refused.value) == (
        f"images.yml:5: run: test hosts have two images ({ONE}, {TWO}): the scenario "
        "names 3 (nginx:latest, redis:7, alpine:latest)"
    )


def test_a_third_image_counts_the_local_ones() -> None:
    with pytest.raises(ScenarioError, match="names 3"):
        mapped(
            f"service create --name a {ONE}",
            f"service create --name b {TWO}",
            "service create --name c x",
        )


def test_a_rewrite_that_reads_back_as_another_command_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the language leaves no flag value that looks like the image's flag (it refuses
    # "--label-add --image=x"), so the guard is tried with a rewrite gone wrong
    def also_the_replicas(kind: str, rest: list[str], image: str, new: str) -> list[list[str]]:
        return [[new if word == image else word for word in rest] + ["--replicas", "9"]]

    monkeypatch.setattr(images, "_replace", also_the_replicas)
    with pytest.raises(ScenarioError) as refused:
        mapped("service update --image nginx web")
    assert str(refused.value) == (
        "images.yml:3: run: 'service update --image nginx web': cannot replace its image "
        "nginx by local/busybox:1 safely"
    )


def test_a_command_the_language_refuses_is_left_alone() -> None:
    runs, mapping = mapped("service create --frobnicate nginx", "service update --image")
    assert (runs, mapping) == (["service create --frobnicate nginx", "service update --image"], {})


COMPOSE = """files:
  stack.yml: |
    version: "3.8"
    services:
      web: {image: %s}
"""


def test_a_compose_file_naming_another_image_is_refused() -> None:
    made = scenario("stack deploy -c stack.yml app", files=COMPOSE % "nginx:1.27")
    with pytest.raises(ScenarioError) as refused:
        map_images(made)
    assert "its compose file names nginx:1.27, which test hosts do not have" in str(refused.value)


def test_a_compose_file_of_local_images_runs_as_it_is() -> None:
    made = scenario("stack deploy -c stack.yml app", files=COMPOSE % ONE)
    assert map_images(made) == (made, {})
