"""Every registered experiment: a documented config whose profiles are valid, a claim, a docstring."""

import dataclasses

import pytest

from mllab.core.config import PROFILES, field_help, make_config
from mllab.core.registry import SECTIONS, all_experiments
from mllab.experiments import load_all

load_all()


@pytest.mark.parametrize("experiment", all_experiments(), ids=lambda e: e.name)
def test_config_fields_have_help_and_every_profile_validates(experiment):
    docs = field_help(experiment.config_cls)
    fields = [f.name for f in dataclasses.fields(experiment.config_cls)]
    assert [name for name in fields if not docs.get(name)] == []
    assert set(experiment.config_cls.profiles) <= set(PROFILES)
    for profile in PROFILES:
        unknown = set(experiment.config_cls.profiles.get(profile, {})) - set(fields)
        assert not unknown, f"profile {profile} sets unknown fields {unknown}"
        make_config(experiment.config_cls, profile)  # raises BadInput when a profile is invalid
    assert experiment.section in SECTIONS and experiment.claim.strip() and experiment.doc.strip()


@pytest.mark.parametrize("experiment", all_experiments(), ids=lambda e: e.name)
def test_claim_text_is_formatted_from_the_config(experiment):
    for profile in PROFILES:
        text = experiment.claim_text(make_config(experiment.config_cls, profile))
        assert "{" not in text and "}" not in text, text  # every placeholder names a config field
    fields = {f.name for f in dataclasses.fields(experiment.config_cls)}
    assert set(experiment.threshold_fields) <= fields


def test_every_issue_section_so_far_has_experiments():
    sections = {e.section for e in all_experiments()}
    assert {"training", "optimization", "classification", "normalization", "rl"} <= sections
