"""What an attempt reads of its wave's frozen scenario and persona: typed, with the defaults of
the scenario files for what a section leaves out, and the text of template files."""

from __future__ import annotations

from config.personas import Persona as PersonaFile
from config.scenarios import Scenario as ScenarioFile
from storage.snapshots import MessageTemplates, PersonaSnapshot, PhoneScript, ScenarioSnapshot


def test_a_phone_scenario_reads_with_the_file_defaults() -> None:
    frozen = ScenarioFile.model_validate(
        {
            "id": "horaires",
            "channel": "phone",
            "title": "Horaires",
            "phone": {"request": "Quels sont vos horaires ?", "ivr_choice": "1"},
        }
    ).model_dump(mode="json")

    scenario = ScenarioSnapshot.from_json(frozen)

    assert scenario.phone == PhoneScript(
        request="Quels sont vos horaires ?",
        ivr_choice="1",
        max_ring_seconds=60,
        max_call_seconds=300,
        record=True,
    )
    assert (scenario.id, scenario.channel, scenario.language) == ("horaires", "phone", "fr")
    assert scenario.email == MessageTemplates()


def test_a_template_file_s_text_is_what_is_rendered() -> None:
    # As scheduler/waves.py freezes a scenario naming template files.
    frozen = {
        "id": "etat-civil",
        "channel": "email",
        "title": "État civil",
        "email": {
            "subject": "Demande",
            "body": "templates/etat-civil.txt.j2",
            "body_text": "Bonjour {{ structure.name }}",
        },
    }

    email = ScenarioSnapshot.from_json(frozen).email

    assert email == MessageTemplates(subject="Demande", body="Bonjour {{ structure.name }}")


def test_a_persona_without_postal_address_reads_it_empty() -> None:
    frozen = PersonaFile.model_validate(
        {
            "id": "marie",
            "display_name": "Marie Dupont",
            "caller_id": "+33199000001",
            "reply_mailbox": "marie@probes-exemple.fr",
        }
    ).model_dump(mode="json")

    persona = PersonaSnapshot.from_json(frozen)

    assert persona.caller_id == "+33199000001"
    assert persona.template_values()["postal_address"] == ""
