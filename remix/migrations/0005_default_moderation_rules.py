"""Seed the default prompt moderation rule sets (sexual content and nudity, minors, real or public
persons, violence and gore, hate symbols, self-harm), with their allow-exceptions.

A frozen copy of ``remix/moderation/default_rules.py`` as it was when this migration was written, so
the migration means the same thing if that module changes later. Reversing deletes exactly these rules
(admins' own rules are left alone).
"""

from django.db import migrations

NOTE = "default rule set"

RULES = {
    "sexual": {
        "block": [
            "nude", "nudity", "nudist", "naked", "nakedness", "undress*", "unclothed", "disrobe*", "topless",
            "shirtless", "braless", "butt naked", "no clothes", "without clothes", "no clothing",
            "without clothing", "clothes off", "clothing off", "remove her clothes", "remove his clothes",
            "remove their clothes", "remove clothes", "remove clothing", "take off her clothes",
            "take off his clothes", "take off their clothes", "strip her", "strip him", "strip them",
            "strip naked", "stripped naked", "strip down", "stripper", "striptease", "strip tease",
            "strip club", "nip slip", "nipslip", "nipple", "see through dress", "see through top",
            "see through shirt", "see through clothes", "see through outfit", "see through blouse",
            "see through bikini", "wet t shirt", "wear nothing", "wearing nothing", "with nothing on",
            "only a towel", "just a towel", "shirt off", "pants off", "trousers off", "skirt off",
            "dress off", "bra off", "underwear off", "her top off", "his top off", "remove her shirt",
            "remove her top", "remove her dress", "remove her bra", "remove his shirt", "remove his pants",
            "take off her shirt", "take off her top", "take off her dress", "take off her bra",
            "take off his shirt", "take off his pants", "bend over", "lingerie", "underwear", "panties",
            "thong", "bra", "bikini", "g string", "negligee", "skimpy", "revealing outfit",
            "revealing clothes", "revealing dress", "breast", "boob", "boobies", "tits", "titty", "titties",
            "cleavage", "busty", "her chest bigger", "his chest bigger", "bigger chest", "penis", "vagina",
            "genital*", "camel toe", "upskirt", "downblouse", "her butt", "her ass", "booty", "sex", "sexual",
            "sexually", "sexualise", "sexualised", "sexualising", "sexualize", "sexualized", "sexualizing",
            "sexy", "sexier", "sexiest", "sexting", "porn*", "nsfw", "x rated", "hentai", "erotic*",
            "sensual", "seductive", "seduce", "seducing", "lewd", "slut", "slutty", "whore", "onlyfans",
            "only fans", "playboy", "orgasm*", "orgy", "orgies", "fetish", "bdsm", "bondage", "dominatrix",
            "blowjob", "blow job", "handjob", "hand job", "cum", "cumshot", "bukkake", "ahegao", "dick pic",
            "cock", "pussy", "horny", "aroused", "arousing", "kinky", "milf", "lap dance", "spread her legs",
            "spread his legs", "spreading her legs", "legs spread", "rape", "raped", "raping", "rapist",
        ],
        "allow": [
            "nude lipstick", "nude lip", "nude colour", "nude color", "nude coloured", "nude colored",
            "nude heels", "nude shoes", "nude nails", "nude nail polish", "nude makeup", "nude palette",
            "nude tone", "nude shade", "chicken breast", "turkey breast", "duck breast", "breast cancer",
            "breast pocket", "breast stroke", "blue tit", "great tit", "coal tit", "cock a doodle doo",
            "weather cock", "pussy cat", "pussy willow", "cum laude", "horny toad", "pirate booty",
            "footed boobies", "bend over backwards", "kinky hair", "kinky curl", "kinky curly",
        ],
    },
    "minors": {
        "block": [
            "underage", "under age", "preteen", "pre teen", "jailbait", "loli", "lolicon", "shota",
            "shotacon", "schoolgirl", "school girl", "pedo", "pedophile", "pedophilia", "paedo", "paedophile",
            "paedophilia", "child porn", "csam", "age her down", "age him down", "make her a child",
            "make him a child", "make her a little girl", "make him a little boy", "look like a little girl",
            "look like a little boy", "look like a child", "look like a kid", "into a little girl",
            "into a little boy", "1 year old", "1 yr old", "1 yo", "2 year old", "2 yr old", "2 yo",
            "3 year old", "3 yr old", "3 yo", "4 year old", "4 yr old", "4 yo", "5 year old", "5 yr old",
            "5 yo", "6 year old", "6 yr old", "6 yo", "7 year old", "7 yr old", "7 yo", "8 year old",
            "8 yr old", "8 yo", "9 year old", "9 yr old", "9 yo", "10 year old", "10 yr old", "10 yo",
            "11 year old", "11 yr old", "11 yo", "12 year old", "12 yr old", "12 yo", "13 year old",
            "13 yr old", "13 yo", "14 year old", "14 yr old", "14 yo", "15 year old", "15 yr old", "15 yo",
            "16 year old", "16 yr old", "16 yo", "17 year old", "17 yr old", "17 yo", "1yo", "2yo", "3yo",
            "4yo", "5yo", "6yo", "7yo", "8yo", "9yo", "10yo", "11yo", "12yo", "13yo", "14yo", "15yo", "16yo",
            "17yo",
        ],
        "allow": [
        ],
    },
    "real_persons": {
        "block": [
            "deepfake*", "deep fake", "face swap*", "faceswap*", "swap face*", "swap her face",
            "swap his face", "swap their face", "replace her face", "replace his face", "replace their face",
            "my ex", "ex girlfriend", "ex boyfriend", "ex wife", "ex husband", "my crush", "my coworker",
            "my co worker", "my colleague", "my boss", "my teacher", "my classmate", "my neighbour",
            "my neighbor", "celebrity", "celebrities", "celeb", "famous person", "famous actress",
            "famous actor", "the president", "prime minister", "taylor swift", "donald trump", "trump",
            "joe biden", "biden", "kamala harris", "barack obama", "obama", "vladimir putin", "putin",
            "zelensky", "zelenskyy", "elon musk", "mark zuckerberg", "zuckerberg", "jeff bezos", "bezos",
            "bill gates", "kim kardashian", "kardashian*", "kanye", "beyonce", "rihanna", "billie eilish",
            "eilish", "selena gomez", "ariana grande", "emma watson", "scarlett johansson",
            "jennifer lawrence", "jennifer aniston", "margot robbie", "zendaya", "sydney sweeney",
            "jenna ortega", "emma stone", "dua lipa", "lady gaga", "katy perry", "nicki minaj",
            "greta thunberg", "king charles", "prince harry", "prince william", "meghan markle",
            "kate middleton", "pope francis", "pope leo", "xi jinping", "kim jong un", "narendra modi",
            "macron", "keir starmer", "justin trudeau", "netanyahu", "mrbeast", "mr beast", "logan paul",
            "lionel messi", "cristiano ronaldo",
        ],
        "allow": [
            "trump card",
        ],
    },
    "violence": {
        "block": [
            "kill", "killed", "killing", "killer", "murder*", "stab", "stabbed", "stabbing", "behead*",
            "decapitat*", "dismember*", "mutilat*", "disembowel*", "eviscerat*", "massacre", "massacred",
            "slaughter*", "lynch", "lynched", "lynching", "impale", "impaled", "torture", "tortured",
            "torturing", "strangle", "strangled", "strangling", "gore", "gory", "gruesome", "blood", "bloody",
            "bloodied", "bloodbath", "bloodshed", "bleeding", "corpse", "dead body", "dead bodies",
            "severed head", "entrails", "slit throat", "slit her throat", "slit his throat", "cut her throat",
            "cut his throat", "throat slit", "throat cut", "shoot her", "shoot him", "shoot them", "shot her",
            "shot him", "shot dead", "was shot", "been shot", "get shot", "gets shot", "gunshot",
            "gun to her head", "gun to his head", "knife in her", "knife in his", "execute her",
            "execute him", "firing squad", "beat her", "beat him", "beat up", "beaten up", "beating her",
            "beating him", "punch her", "punch him", "punching her", "punching him", "choke her", "choke him",
            "choking her", "burn her alive", "burn him alive", "burned alive", "burnt alive",
            "set her on fire", "set him on fire", "school shooting", "mass shooting", "suicide bomber",
            "assassinat*", "pointed at her head", "pointed at his head", "cut off her head",
            "cut off his head", "chop off her head", "chop off his head", "head cut off", "blow her head off",
            "blow his head off", "blew her head off", "blew his head off", "her bleed", "him bleed",
        ],
        "allow": [
            "blood orange", "blood moon", "blood type", "blood donation", "blood drive", "blood bank",
            "blood pressure", "blood sugar", "blood cell", "blood brothers", "blood red", "bloody mary",
            "bleeding edge", "bleeding heart", "killer whale", "killer bee", "killer app", "killer heels",
            "killer smile", "killer outfit", "killer look", "kill for a", "could kill for", "killing it",
            "killed it", "kill the lights", "kill time", "killing time", "dressed to kill", "gore tex",
            "al gore", "murder mystery", "murder of crows", "tortured artist", "tortured soul",
            "tortured poet", "beat him at", "beat her at", "beat up car", "beat up old",
        ],
    },
    "hate": {
        "block": [
            "swastika", "hakenkreuz", "nazi", "nazis", "nazism", "neo nazi", "neonazi", "hitler", "heil",
            "sieg heil", "third reich", "ss bolts", "ss runes", "ss uniform", "totenkopf", "sonnenrad",
            "wolfsangel", "kkk", "ku klux klan", "klan", "klansman", "burning cross", "cross burning",
            "white power", "white pride", "white supremacy", "white supremacist", "aryan nation",
            "aryan brotherhood", "aryan race", "1488", "14 88", "confederate flag", "blood and soil",
            "nigger", "nigga", "faggot", "fag", "kike", "spic", "chink", "tranny", "wetback", "raghead",
            "towelhead", "gook", "coon",
        ],
        "allow": [
            "chink in the armour", "chink in the armor", "chink in his armour", "chink of light",
        ],
    },
    "self_harm": {
        "block": [
            "suicide", "suicidal", "kill* herself", "kill* himself", "kill* myself", "kill* yourself",
            "kill* themselves", "kill* urself", "kill* ur self", "kys", "hang* herself", "hang* himself",
            "hang* myself", "hang* yourself", "hang* themselves", "self harm", "self injury",
            "self mutilation", "self inflicted", "cut her wrist", "cut his wrist", "cut my wrist",
            "cut their wrist", "slit her wrist", "slit his wrist", "slit my wrist", "slit wrist",
            "slit their wrist", "cut* herself", "cut* himself", "cut* myself", "jump* off a bridge",
            "jump* off the bridge", "jump* off a building", "overdose", "overdosed", "anorexic", "anorexia",
            "bulimic", "bulimia", "thinspo", "thinspiration", "pro ana", "end her life", "end his life",
            "end my life", "want to die", "wants to die", "unalive*", "noose", "hang* from a rope",
        ],
        "allow": [
            "suicide squad",
        ],
    },
}


def _rows():
    for category, kinds in RULES.items():
        for kind, patterns in kinds.items():
            for pattern in patterns:
                yield category, kind, pattern


def seed(apps, schema_editor):
    ModerationRule = apps.get_model("remix", "ModerationRule")
    ModerationRule.objects.bulk_create(
        [ModerationRule(category=c, kind=k, pattern=p, note=NOTE) for c, k, p in _rows()],
        ignore_conflicts=True,  # an admin may already have added the same rule
    )


def unseed(apps, schema_editor):
    ModerationRule = apps.get_model("remix", "ModerationRule")
    for category, kinds in RULES.items():
        for kind, patterns in kinds.items():
            ModerationRule.objects.filter(category=category, kind=kind, pattern__in=patterns, note=NOTE).delete()


class Migration(migrations.Migration):
    dependencies = [("remix", "0004_review_queues_and_ledger_fields")]

    operations = [migrations.RunPython(seed, unseed)]
