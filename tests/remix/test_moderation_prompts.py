"""Prompt moderation: normalisation, matching (every obfuscation kind, the Scunthorpe traps, allow rules),
rules edited in the admin taking effect at once, the API's and the page's refusal, the audit log, the
corpus thresholds and the report command."""

from __future__ import annotations

import importlib
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from remix.models import AuditEvent, ModerationRule, RemixJob
from remix.moderation import corpus as moderation_corpus
from remix.moderation.default_rules import default_rules
from remix.moderation.prompts import SENTENCES, Matcher, check_prompt, normalize
from socialapp.models import Post, User
from tests.factories import PostFactory, UserFactory

# --- normalisation and matching, without the database ------------------------------------------

RULES = [
    ("sexual", "block", "nude"),
    ("sexual", "block", "sex"),
    ("sexual", "block", "undress*"),
    ("violence", "block", "kill"),
    ("violence", "block", "blood"),
    ("violence", "allow", "blood orange"),
    ("violence", "block", "stab"),
    ("hate", "block", "swastika"),
    ("hate", "block", "1488"),
    ("self_harm", "block", "kill* herself"),
    ("minors", "block", "12 year old"),
    ("real_persons", "block", "face swap*"),
]
MATCHER = Matcher.compile(RULES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NuDe", "nude"),
        ("ｎｕｄｅ", "nude"),  # fullwidth
        ("𝐧𝐮𝐝𝐞", "nude"),  # mathematical bold
        ("nu\u200bd\u200de", "nude"),  # zero-width space and joiner
        ("nüdé", "nude"),  # accents
        ("n\u0443d\u0435", "nyde"),  # Cyrillic у is a y look-alike, е an e
        ("\u043d\u0430\u043a\u0435d", "haked"),  # Cyrillic н looks like H
        ("n\u03b1k\u03b5d", "naked"),  # Greek alpha, epsilon
        ("STRAßE", "strasse"),
        ("draw 卐 here", "draw  swastika  here"),
        ("n\u00a0u\u00a0d\u00a0e", "n u d e"),  # no-break spaces
        ("nu\u00adde", "nude"),  # soft hyphen
        ("nu\ufe0fde", "nude"),  # variation selector
        ("n\u3164u\u3164d\u3164e", "nude"),  # Hangul filler, a "letter" that shows as nothing
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("text", "category", "rule"),
    [
        ("make her nude", "sexual", "nude"),
        ("make her NUDE", "sexual", "nude"),
        ("nudes please", "sexual", "nude"),  # the plural
        ("undressing her", "sexual", "undress*"),  # a trailing *
        # spacing
        ("make her n u d e", "sexual", "nude"),
        ("make her a n u d e model", "sexual", "nude"),  # the article joins the run too
        ("n.u.d.e", "sexual", "nude"),
        ("n-u-d-e", "sexual", "nude"),
        ("n_u_d_e", "sexual", "nude"),
        ("n\u00a0u\u00a0d\u00a0e", "sexual", "nude"),
        # leetspeak
        ("nud3", "sexual", "nude"),
        ("s3x", "sexual", "sex"),
        ("$ex", "sexual", "sex"),
        ("k1ll him", "violence", "kill"),  # 1 → i
        ("ki11 him", "violence", "kill"),  # 1 → l
        ("k!ll him", "violence", "kill"),
        ("k|ll him", "violence", "kill"),
        ("5w@5t1k@", "hate", "swastika"),
        ("+he 5+ab", "violence", "stab"),
        # accents, look-alikes, fullwidth, zero-width
        ("nüde", "sexual", "nude"),
        ("nud\u0435", "sexual", "nude"),  # Cyrillic е
        ("nud\u03b5", "sexual", "nude"),  # Greek ε
        ("ｎｕｄｅ", "sexual", "nude"),
        ("nu\u200bde", "sexual", "nude"),
        ("卐 on the wall", "hate", "swastika"),
        # masked and stretched letters
        ("s*x", "sexual", "sex"),
        ("k_ll him", "violence", "kill"),
        ("*nude*", "sexual", "nude"),  # markdown emphasis, not a mask
        ("nuuuuude", "sexual", "nude"),
        ("kiiilllll", "violence", "kill"),
        # numbers stay numbers
        ("1488", "hate", "1488"),
        ("1 4 8 8", "hate", "1488"),  # spaced digits join into the number
        # phrases
        ("make her kill herself", "self_harm", "kill* herself"),  # self-harm outranks violence
        ("k1lling h3rself", "self_harm", "kill* herself"),
        ("make her look 12 years old", "minors", "12 year old"),
        ("a 12-year-old", "minors", "12 year old"),
        ("face swap", "real_persons", "face swap*"),
        ("face-swapped", "real_persons", "face swap*"),
        ("faceswap", "real_persons", "face swap*"),
        ("blood orange and blood everywhere", "violence", "blood"),  # the exception covers only its words
    ],
)
def test_obfuscations_are_caught(text: str, category: str, rule: str) -> None:
    verdict = MATCHER.check(text)
    assert not verdict.allowed, text
    assert (verdict.category, verdict.matched) == (category, rule)


@pytest.mark.parametrize(
    "text",
    [
        "a postcard from Essex",
        "Sussex countryside",
        "Middlesex University",
        "welcome to Scunthorpe",
        "give him a sextant",
        "the Sexton family crest",
        "a horse stable",
        "a skilled chef",
        "turn the sky into a blood orange sunset",
        "blood oranges in a bowl",
        "a blood-orange sky",
        "BL00D ORANGE",  # the exception is read through the same normalisation
        "unstable",
        "snow!",
        "wow!!! sparkle!!",
        "$100 bill",
        "C++ meme",
        "a 3d render",
        "90s vibe",
        "s**",  # too little left to unmask
        "***",
        "the nudibranch",
    ],
)
def test_innocent_words_containing_blocked_strings_pass(text: str) -> None:
    verdict = MATCHER.check(text)
    assert verdict.allowed, (text, verdict)


def test_allow_rules_neutralise_only_their_own_category() -> None:
    matcher = Matcher.compile(
        [
            ("violence", "block", "blood"),
            ("violence", "allow", "blood orange"),
            ("self_harm", "block", "blood"),
        ]
    )
    verdict = matcher.check("a blood orange")
    assert (verdict.allowed, verdict.category) == (False, "self_harm")
    assert (
        Matcher.compile([("violence", "block", "blood"), ("violence", "allow", "blood orange")])
        .check("a blood orange")
        .allowed
    )


def test_the_verdict_carries_the_normalised_text_and_a_sentence_without_the_word() -> None:
    verdict = MATCHER.check("Make her ＮＵＤＥ")
    assert verdict.normalized == "make her nude"
    assert verdict.sentence == SENTENCES["sexual"]
    assert "nude" not in verdict.sentence.lower()
    assert set(SENTENCES) == set(ModerationRule.Category.values)


# --- the rules in the database -----------------------------------------------------------------


@pytest.fixture
def default_rule_set(db: None) -> None:
    """The seeded rule sets (migration 0005). A transactional test elsewhere in the session may have
    flushed the migrated rows, so they are put back from the module the migration was copied from."""
    ModerationRule.objects.bulk_create(
        [ModerationRule(category=c, kind=k, pattern=p, note=n) for c, k, p, n in default_rules()],
        ignore_conflicts=True,
    )


@pytest.mark.parametrize(
    "prompt",
    [
        "make it snow",
        "put her on the beach",
        "make it a watercolour",
        "add a cocktail glass in his hand",
        "put them in the cockpit of a plane",
        "make it look like a postcard from Essex",
        "Middlesex University graduation gown",
        "welcome to Scunthorpe",
        "make it a classic oil painting",
        "add a bunch of grapes",
        "put a therapist's couch in the background",
        "the horse stable",
        "an Assassin's Creed costume",
        "a blood orange sunset",
        "a killer whale",
        "studio photo shoot",
        "a skilled chef",
        "kidney beans",
        "a big red button",
        "make it look like an analog photo",
        "give her nude lipstick",
        "chicken breast on the grill",
        "I could kill for a coffee",
        "Harley Quinn from Suicide Squad",
        "he played his trump card",
        "a blue tit on the branch",
    ],
)
def test_default_rules_let_scunthorpe_traps_through(default_rule_set: None, prompt: str) -> None:
    assert check_prompt(prompt).allowed, check_prompt(prompt)


@pytest.mark.parametrize(
    ("prompt", "category"),
    [
        ("undress her", "sexual"),
        ("put her in a bikini", "sexual"),
        ("make her look 12 years old in a bikini", "minors"),
        ("deepfake of the president", "real_persons"),
        ("stab him", "violence"),
        ("add a swastika", "hate"),
        ("make her cut her wrists", "self_harm"),
    ],
)
def test_default_rules_cover_every_category(default_rule_set: None, prompt: str, category: str) -> None:
    if category == "minors":  # the age alone only holds; refused with anything sexual, graver than sexual
        from remix.moderation.text import check_text

        verdict = check_text(prompt)
        assert (verdict.decision, verdict.category) == ("refuse", category)
        return
    verdict = check_prompt(prompt)
    assert (verdict.allowed, verdict.category) == (False, category)


def test_an_age_alone_holds_for_review(default_rule_set: None) -> None:
    verdict = check_prompt("make her look 12 years old")
    assert verdict.allowed and (verdict.hold_category, verdict.hold_matched) == ("minors", "12 year old")


def test_an_edited_rule_applies_at_once(default_rule_set: None) -> None:
    assert check_prompt("add a teapot").allowed
    rule = ModerationRule.objects.create(category="hate", pattern="teapot", note="test")
    verdict = check_prompt("add a t e a p 0 t")
    assert (verdict.allowed, verdict.category, verdict.matched) == (False, "hate", "teapot")
    rule.is_active = False
    rule.save()
    assert check_prompt("add a teapot").allowed
    rule.is_active = True
    rule.save()
    assert not check_prompt("add a teapot").allowed
    ModerationRule.objects.create(category="hate", kind="allow", pattern="teapot museum")
    assert check_prompt("the teapot museum").allowed
    rule.delete()
    assert check_prompt("add a teapot").allowed
    # Deactivating a seeded rule lets its word through.
    assert not check_prompt("put her in a bikini").allowed
    ModerationRule.objects.filter(pattern="bikini").update(is_active=False)
    assert check_prompt("put her in a bikini").allowed


def test_migration_rules_cover_every_category_with_careful_stems() -> None:
    migration = importlib.import_module("remix.migrations.0005_default_moderation_rules")
    rows = list(migration._rows())
    # Harassment came later, with the lexicons (migration 0010).
    assert {category for category, _, _ in rows} == set(ModerationRule.Category.values) - {"harassment"}
    assert {kind for _, kind, _ in rows} == {"block", "allow"}
    assert len(rows) == len(set(rows))  # the unique constraint would drop duplicates silently
    # A stem only where no innocent word shares it: never stab*, kill*, sex*, cock*, blood*.
    patterns = {pattern for _, _, pattern in rows}
    assert not {"stab*", "kill*", "sex*", "cock*", "blood*", "rape*", "nude*"} & patterns


@pytest.mark.django_db
def test_migration_seed_and_unseed() -> None:
    migration = importlib.import_module("remix.migrations.0005_default_moderation_rules")
    ModerationRule.objects.all().delete()
    ModerationRule.objects.create(category="hate", pattern="an admin's own rule")
    migration.seed(django_apps, None)
    assert ModerationRule.objects.count() == len(list(migration._rows())) + 1
    migration.unseed(django_apps, None)
    assert list(ModerationRule.objects.values_list("pattern", flat=True)) == ["an admin's own rule"]


# --- the request path --------------------------------------------------------------------------


def _remix(api: APIClient, post: Post, **body: Any) -> Any:
    return api.post(f"/api/posts/{post.pk}/remixes/", body, format="json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "category"),
    [
        ({"prompt": "put her in a b i k i n i"}, "prompt", "sexual"),
        ({"prompt": "undress her"}, "prompt", "sexual"),
        ({"prompt": "make it a watercolour", "meme_text": "when you|k1ll yourself"}, "meme_text", "self_harm"),
        ({"prompt": "add a hat", "meme_text": "SWASTIKA"}, "meme_text", "hate"),
    ],
)
def test_api_rejects_with_category_and_sentence_and_no_job(
    default_rule_set: None,
    remixable_post: Post,
    viewer: User,
    viewer_api: APIClient,
    django_capture_on_commit_callbacks: Any,
    body: dict[str, str],
    field: str,
    category: str,
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = _remix(viewer_api, remixable_post, **body)
    assert response.status_code == 400, response.content
    assert response.json() == {
        "code": "prompt_rejected",
        "detail": SENTENCES[category],
        "category": category,
        "field": field,
    }
    assert not RemixJob.objects.exists()
    assert callbacks == []  # nothing enqueued
    event = AuditEvent.objects.get(action=AuditEvent.Action.PROMPT_REJECTED)
    assert (event.category, event.actor_ref, event.subject_ref, event.post_ref, event.job_ref) == (
        category,
        viewer.pk,
        remixable_post.author_id,
        remixable_post.pk,
        None,
    )
    assert event.detail["field"] == field and event.detail["rule"]
    assert event.detail["prompt"] == body["prompt"]
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.PROMPT_ALLOWED).exists()


@pytest.mark.django_db
def test_an_allowed_prompt_is_logged_with_its_job(
    default_rule_set: None, remixable_post: Post, viewer: User, viewer_api: APIClient
) -> None:
    response = _remix(
        viewer_api, remixable_post, prompt="turn the sky into a blood orange sunset", client_request_id="r1"
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.PROMPT_ALLOWED)
    assert (event.job_ref, event.actor_ref, event.subject_ref, event.post_ref) == (
        job_id,
        viewer.pk,
        remixable_post.author_id,
        remixable_post.pk,
    )
    assert event.detail["prompt"] == "turn the sky into a blood orange sunset"
    # A repeated request answers with the first job before moderation: no second decision is logged.
    again = _remix(viewer_api, remixable_post, prompt="turn the sky into a blood orange sunset", client_request_id="r1")
    assert again.json()["id"] == job_id
    assert AuditEvent.objects.filter(action=AuditEvent.Action.PROMPT_ALLOWED).count() == 1


@pytest.mark.django_db
def test_consent_is_checked_before_moderation(default_rule_set: None, creator: User, viewer_api: APIClient) -> None:
    post = PostFactory(author=creator)  # the creator never opted in
    response = _remix(viewer_api, post, prompt="undress her")
    assert response.status_code == 403 and response.json()["code"] == "remix_not_allowed"
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.PROMPT_REJECTED).exists()


@pytest.mark.django_db
def test_the_remix_form_shows_the_sentence(default_rule_set: None, remixable_post: Post, viewer: User) -> None:
    client = Client()
    client.force_login(viewer)
    response = client.post(f"/p/{remixable_post.pk}/remix/", {"prompt": "put her in a bikini"})
    assert response.status_code == 400
    assert "AI remixes can&#x27;t be sexual or show nudity." in response.content.decode()
    assert not RemixJob.objects.exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.PROMPT_REJECTED, category="sexual").exists()


# --- the admin ---------------------------------------------------------------------------------


@pytest.fixture
def staff_client(db: None) -> Client:
    client = Client()
    client.force_login(UserFactory(username="moderator", is_staff=True, is_superuser=True))
    return client


def test_admin_edits_are_audited_and_apply_at_once(default_rule_set: None, staff_client: Client) -> None:
    response = staff_client.post(
        "/admin/remix/moderationrule/add/",
        {"category": "hate", "kind": "block", "pattern": "  teapot  ", "note": "", "is_active": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = ModerationRule.objects.get(pattern="teapot")
    assert not check_prompt("a teapot").allowed
    added = AuditEvent.objects.get(action=AuditEvent.Action.RULE_CHANGED)
    assert (added.actor_name, added.category, added.detail["change"], added.detail["pattern"]) == (
        "moderator",
        "hate",
        "added",
        "teapot",
    )
    response = staff_client.post(f"/admin/remix/moderationrule/{rule.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert check_prompt("a teapot").allowed
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RULE_CHANGED, detail__change="deleted").count() == 1


def test_admin_rejects_a_star_inside_a_word(staff_client: Client) -> None:
    response = staff_client.post(
        "/admin/remix/moderationrule/add/", {"category": "hate", "kind": "block", "pattern": "s*x", "is_active": "on"}
    )
    assert response.status_code == 200 and "may only end a word" in response.content.decode()
    assert not ModerationRule.objects.filter(pattern="s*x").exists()


def test_admin_changelist_and_try_a_prompt(default_rule_set: None, staff_client: Client) -> None:
    listing = staff_client.get("/admin/remix/moderationrule/", {"category__exact": "violence", "q": "blood"})
    html = listing.content.decode()
    assert listing.status_code == 200 and 'id="try-prompt"' in html and "blood orange" in html
    page = staff_client.get("/admin/remix/moderationrule/try/", {"prompt": "a blood orange and some bl00d"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Rejected: Violence and gore" in html and "covered by an allow rule" in html
    assert "Allowed." in staff_client.get("/admin/remix/moderationrule/try/", {"prompt": "Essex"}).content.decode()


# --- the corpus and its report -----------------------------------------------------------------


def test_the_corpus_is_balanced_and_covers_every_category() -> None:
    rows = moderation_corpus.load_corpus()
    abusive = [r for r in rows if r["expected"] == "block"]
    benign = [r for r in rows if r["expected"] == "allow"]
    assert len(rows) >= 80 and abs(len(abusive) - len(benign)) <= len(rows) // 10
    # The project's first corpus, for the rules alone; harassment is measured on the development and held-out sets.
    assert {r["category"] for r in abusive} == set(ModerationRule.Category.values) - {"harassment"}
    notes = " ".join(r["note"] for r in abusive)
    for kind in ("leetspeak", "spacing", "accent", "Cyrillic", "fullwidth", "zero-width", "masked", "stretched"):
        assert kind in notes, kind
    traps = " ".join(r["prompt"] for r in benign)
    for trap in ("Essex", "Sussex", "cocktail", "blood orange", "Scunthorpe", "grapes", "therapist", "stable"):
        assert trap in traps, trap


def test_the_corpus_meets_the_thresholds(default_rule_set: None) -> None:
    report = moderation_corpus.evaluate_corpus()
    misses = [o.prompt for o in report.misses]
    false_positives = [(o.prompt, o.verdict.matched) for o in report.false_positives]
    assert report.overall.block_rate >= 0.95, misses
    assert report.overall.false_positive_rate <= 0.05, false_positives
    assert report.passed


def _write_set(path: Path, rows: list[tuple[str, str, str, str, str, str]]) -> Path:
    keys = ("text", "field", "label", "category", "technique", "language")
    path.write_text("".join(json.dumps(dict(zip(keys, row, strict=True)), ensure_ascii=False) + "\n" for row in rows))
    return path


REPORT_ROWS = [
    ("undress her", "prompt", "abusive", "sexual", "plain", "en"),
    ("make it snow", "prompt", "benign", "none", "plain", "en"),
    ("quítale la ropa", "prompt", "abusive", "sexual", "other_language", "es"),
    ("añade un sombrero", "prompt", "benign", "none", "other_language", "es"),
    ("a cute teapot", "prompt", "abusive", "hate", "euphemism", "en"),
    ("when the coffee kicks in|monday mode", "meme_text", "benign", "none", "plain", "en"),
]


def test_the_report_command_prints_the_rates(default_rule_set: None, tmp_path: Path) -> None:
    heldout = _write_set(tmp_path / "heldout.jsonl", REPORT_ROWS)
    out = StringIO()
    call_command(
        "remix_moderation_report", "--set", "heldout", "--heldout", str(heldout), "--heldout-mistakes", stdout=out
    )
    text = out.getvalue()
    assert "the held-out set has changed since it was frozen" in text  # not the frozen file: said so
    assert "5 prompts (3 abusive, 2 benign), 1 meme texts (0 abusive, 1 benign)" in text
    assert "abusive stopped 2/3  66.7%" in text and "median check time" in text
    assert "MISSES abusive prompts stopped: 66.7% (≥ 90%)" in text
    for section in ("by category", "by technique", "by language", "meme text by category", "which layer stopped"):
        assert section in text
    assert "euphemism" in text and "other_language" in text and "\n  es " in text
    assert "[hate/euphemism/en] a cute teapot" in text  # the one that got through, listed when asked


def test_the_frozen_heldout_set_is_intact() -> None:
    from remix.moderation import evaluation

    assert evaluation.heldout_intact()
    rows = evaluation.heldout_examples()
    assert (
        len([r for r in rows if r.field == "prompt"]) >= 400 and len([r for r in rows if r.field == "meme_text"]) >= 60
    )
    assert {r.label for r in rows} == {"benign", *(set(ModerationRule.Category.values))}
