#!/usr/bin/env python3
"""Generate the small corpora in data/ that were written for azul.

    python3 tools/make_toy_corpora.py            # (re)write the files
    python3 tools/make_toy_corpora.py --check    # exit 1 if a file is stale

Three corpora, each a train.tsv and a dev.tsv (source<TAB>target, UTF-8, LF):

  data/toy-en-es/  English -> Spanish sentences built from a tiny grammar
                   around the seed example "The ball is blue" -> "La bola es azul".
  data/copy/       a sequence of symbols -> the same sequence.
  data/reverse/    a sequence of symbols -> the sequence reversed.

Everything comes from the word lists and rules below and a fixed random seed,
so running the script twice writes byte-identical files. It uses only the
Python standard library and reads no input files. Nothing here iterates over a
set or a hash-ordered container, so PYTHONHASHSEED does not matter.
"""

import argparse
import os
import random
import sys

# --------------------------------------------------------------------------
# Toy English -> Spanish grammar
#
# One translation per English word, so the mapping is learnable. Spanish
# grammar handled here: article/adjective gender and number agreement,
# adjective after the noun, ser for qualities ("es azul"), estar for location
# ("está en la casa"), the personal "a" before a definite animate direct
# object of ver ("ve al gato", "ve a la niña"), the contractions a+el = al and
# de+el = del, third-person present and preterite conjugations.
# --------------------------------------------------------------------------

TOY_SEED = 20240601
TOY_TRAIN_SIZE = 360  # including the two seed sentences
TOY_DEV_SIZE = 40
TOY_MIN_COUNT = 3     # every word, both sides, occurs at least this often in train

SEED_PAIRS = [
    ("The ball is blue", "La bola es azul"),
    ("The black cat drank the milk", "El gato negro bebió la leche"),
]


class Noun:
    def __init__(self, en, en_pl, es, es_pl, gender, kind):
        self.en, self.en_pl = en, en_pl
        self.es, self.es_pl = es, es_pl
        self.gender = gender  # "m" or "f"
        self.kind = kind      # animal, person, thing, place, food, mass

    @property
    def animate(self):
        return self.kind in ("animal", "person")


NOUNS = [
    # English, English plural, Spanish, Spanish plural, gender, kind
    Noun("cat", "cats", "gato", "gatos", "m", "animal"),
    Noun("dog", "dogs", "perro", "perros", "m", "animal"),
    Noun("bird", "birds", "pájaro", "pájaros", "m", "animal"),
    Noun("mouse", "mice", "ratón", "ratones", "m", "animal"),
    Noun("horse", "horses", "caballo", "caballos", "m", "animal"),
    Noun("cow", "cows", "vaca", "vacas", "f", "animal"),
    Noun("boy", "boys", "niño", "niños", "m", "person"),
    Noun("girl", "girls", "niña", "niñas", "f", "person"),
    Noun("ball", "balls", "bola", "bolas", "f", "thing"),
    Noun("flower", "flowers", "flor", "flores", "f", "thing"),
    Noun("box", "boxes", "caja", "cajas", "f", "place"),
    Noun("table", "tables", "mesa", "mesas", "f", "place"),
    Noun("house", "houses", "casa", "casas", "f", "place"),
    Noun("car", "cars", "coche", "coches", "m", "place"),
    Noun("truck", "trucks", "camión", "camiones", "m", "place"),
    Noun("apple", "apples", "manzana", "manzanas", "f", "food"),
    # Uncountable: only ever singular.
    Noun("bread", None, "pan", None, "m", "mass"),
    Noun("cheese", None, "queso", None, "m", "mass"),
    Noun("milk", None, "leche", None, "f", "mass"),
]
N = {n.en: n for n in NOUNS}


class Adj:
    def __init__(self, en, m, f, m_pl, f_pl):
        self.en = en
        self.forms = {("m", False): m, ("f", False): f,
                      ("m", True): m_pl, ("f", True): f_pl}

    def es(self, gender, plural):
        return self.forms[(gender, plural)]


ADJS = [
    Adj("blue", "azul", "azul", "azules", "azules"),
    Adj("red", "rojo", "roja", "rojos", "rojas"),
    Adj("green", "verde", "verde", "verdes", "verdes"),
    Adj("yellow", "amarillo", "amarilla", "amarillos", "amarillas"),
    Adj("black", "negro", "negra", "negros", "negras"),
    Adj("white", "blanco", "blanca", "blancos", "blancas"),
    Adj("brown", "marrón", "marrón", "marrones", "marrones"),
    Adj("big", "grande", "grande", "grandes", "grandes"),
    Adj("small", "pequeño", "pequeña", "pequeños", "pequeñas"),
]
A = {a.en: a for a in ADJS}

# Which adjectives make sense for which noun (keeps the sentences plausible).
ALL_ADJ = [a.en for a in ADJS]
ADJ_FOR = {
    "cat": ["black", "white", "brown", "big", "small"],
    "dog": ["black", "white", "brown", "big", "small"],
    "horse": ["black", "white", "brown", "big", "small"],
    "cow": ["black", "white", "brown", "big", "small"],
    "mouse": ["black", "white", "brown", "big", "small"],
    "bird": ["blue", "red", "green", "yellow", "black", "white", "brown", "big", "small"],
    "boy": ["big", "small"],
    "girl": ["big", "small"],
    "apple": ["red", "green", "yellow", "big", "small"],
    "flower": ["blue", "red", "yellow", "white", "big", "small"],
    "ball": ALL_ADJ, "box": ALL_ADJ, "table": ALL_ADJ, "house": ALL_ADJ,
    "car": ALL_ADJ, "truck": ALL_ADJ,
    "bread": [], "cheese": [], "milk": [],
}


class Verb:
    def __init__(self, en3, en_pl, en_past, es3, es_pl, es_past, es_past_pl):
        self.en = {(False, False): en3, (True, False): en_pl,
                   (False, True): en_past, (True, True): en_past}
        self.es = {(False, False): es3, (True, False): es_pl,
                   (False, True): es_past, (True, True): es_past_pl}


V = {
    "see": Verb("sees", "see", "saw", "ve", "ven", "vio", "vieron"),
    "eat": Verb("eats", "eat", "ate", "come", "comen", "comió", "comieron"),
    "drink": Verb("drinks", "drink", "drank", "bebe", "beben", "bebió", "bebieron"),
    "want": Verb("wants", "want", None, "quiere", "quieren", None, None),
    "have": Verb("has", "have", None, "tiene", "tienen", None, None),
    "run": Verb("runs", "run", None, "corre", "corren", None, None),
    "sleep": Verb("sleeps", "sleep", None, "duerme", "duermen", None, None),
}

ANIMALS = [n.en for n in NOUNS if n.kind == "animal"]
PEOPLE = [n.en for n in NOUNS if n.kind == "person"]
ANIMATE = ANIMALS + PEOPLE
THINGS = ["ball", "flower", "box", "table", "house", "car", "truck"]
SMALL_THINGS = ["ball", "flower", "box", "apple"]
# What each eater plausibly eats.
FOOD_FOR = {
    "cat": ["cheese", "bread"], "dog": ["bread", "cheese", "apple"],
    "bird": ["bread", "apple"], "mouse": ["cheese", "bread", "apple"],
    "horse": ["apple", "bread"], "cow": ["apple", "bread"],
    "boy": ["apple", "bread", "cheese"], "girl": ["apple", "bread", "cheese"],
}
# Prepositions of place and the places they go with.
PREP_ES = {"in": ["en"], "on": ["sobre"], "under": ["debajo", "de"]}
SMALL_PLACES = [("in", "house"), ("in", "box"), ("in", "car"), ("in", "truck"),
                ("on", "table"), ("on", "box"), ("on", "car"), ("on", "truck"),
                ("under", "table"), ("under", "car"), ("under", "truck")]
PERSON_PLACES = [("in", "house"), ("in", "car"), ("in", "truck"), ("under", "table")]
BIG_ANIMAL_PLACES = [("in", "house"), ("in", "truck")]


def places_for(noun):
    """Where a noun can plausibly be (or sleep): (preposition, place) pairs."""
    if noun in ("horse", "cow"):
        return BIG_ANIMAL_PLACES
    if noun in PEOPLE:
        return PERSON_PLACES
    return [(p, q) for p, q in SMALL_PLACES if q != noun]


def capitalise(word):
    return word[:1].upper() + word[1:]


def es_contract(words):
    """Spanish contractions: a + el -> al, de + el -> del."""
    out = []
    for w in words:
        if w == "el" and out and out[-1] in ("a", "de"):
            out[-1] = "al" if out[-1] == "a" else "del"
        else:
            out.append(w)
    return out


class NP:
    """A noun phrase: determiner + noun + optional adjective, in both languages."""

    def __init__(self, noun, plural=False, det="the", adj=None):
        assert not (plural and noun.kind == "mass")
        assert det in ("the", "a", "two", "three", "bare")
        assert adj is None or adj in ADJ_FOR[noun.en]
        if det == "a":
            assert not plural
        if det in ("two", "three"):
            assert plural
        self.noun, self.plural, self.det, self.adj = noun, plural, det, adj

    def en(self):
        words = []
        noun = self.noun.en_pl if self.plural else self.noun.en
        first = self.adj if self.adj else noun
        if self.det == "a":
            words.append("an" if first[0] in "aeiou" else "a")
        elif self.det != "bare":
            words.append(self.det)
        if self.adj:
            words.append(self.adj)
        words.append(noun)
        return words

    def es(self, personal_a=False):
        g, pl = self.noun.gender, self.plural
        words = []
        if self.det == "the":
            words.append({("m", False): "el", ("f", False): "la",
                          ("m", True): "los", ("f", True): "las"}[(g, pl)])
        elif self.det == "a":
            words.append("un" if g == "m" else "una")
        elif self.det == "two":
            words.append("dos")
        elif self.det == "three":
            words.append("tres")
        words.append(self.noun.es_pl if pl else self.noun.es)
        if self.adj:
            words.append(A[self.adj].es(g, pl))
        if personal_a:
            words.insert(0, "a")
        return words


def sentence(en_words, es_words, question=False):
    en_words = list(en_words)
    es_words = es_contract(list(es_words))
    en_words[0] = capitalise(en_words[0])
    es_words[0] = capitalise(es_words[0])
    en = " ".join(en_words)
    es = " ".join(es_words)
    if question:
        en, es = en + "?", "¿" + es + "?"
    return en, es


class ToyGrammar:
    """Random sentence templates; each returns one (English, Spanish) pair."""

    def __init__(self, rng):
        self.rng = rng

    # -- helpers ----------------------------------------------------------
    def maybe_adj(self, noun, p):
        choices = ADJ_FOR[noun]
        if choices and self.rng.random() < p:
            return self.rng.choice(choices)
        return None

    def subject(self, pool, p_plural=0.3, p_adj=0.4):
        noun = N[self.rng.choice(pool)]
        plural = self.rng.random() < p_plural
        return NP(noun, plural, "the", self.maybe_adj(noun.en, p_adj))

    def count_np(self, pool, p_adj=0.4):
        """a / an / two / three + noun, as in 'has two red balls'."""
        noun = N[self.rng.choice(pool)]
        det = self.rng.choice(["a", "a", "two", "three"])
        return NP(noun, det != "a", det, self.maybe_adj(noun.en, p_adj))

    def place_phrase(self, choices):
        """in the house / on the red table / under the car (always singular)."""
        prep, place = self.rng.choice(choices)
        np = NP(N[place], False, "the", self.maybe_adj(place, 0.2))
        return [prep] + np.en(), PREP_ES[prep] + np.es()

    # -- templates --------------------------------------------------------
    def copula(self):
        """The ball is blue / Los perros son negros"""
        noun = N[self.rng.choice([n.en for n in NOUNS if ADJ_FOR[n.en]])]
        plural = self.rng.random() < 0.35
        adj = self.rng.choice(ADJ_FOR[noun.en])
        subj = NP(noun, plural)
        en = subj.en() + ["are" if plural else "is", adj]
        es = subj.es() + ["son" if plural else "es", A[adj].es(noun.gender, plural)]
        return sentence(en, es)

    def copula_negative(self):
        """The ball is not red / La bola no es roja"""
        noun = N[self.rng.choice([n.en for n in NOUNS if ADJ_FOR[n.en]])]
        plural = self.rng.random() < 0.35
        adj = self.rng.choice(ADJ_FOR[noun.en])
        subj = NP(noun, plural)
        en = subj.en() + ["are" if plural else "is", "not", adj]
        es = subj.es() + ["no", "son" if plural else "es",
                          A[adj].es(noun.gender, plural)]
        return sentence(en, es)

    def copula_question(self):
        """Is the ball blue? / ¿Es azul la bola?"""
        noun = N[self.rng.choice([n.en for n in NOUNS if ADJ_FOR[n.en]])]
        plural = self.rng.random() < 0.35
        adj = self.rng.choice(ADJ_FOR[noun.en])
        subj = NP(noun, plural)
        en = ["are" if plural else "is"] + subj.en() + [adj]
        es = ["son" if plural else "es", A[adj].es(noun.gender, plural)] + subj.es()
        return sentence(en, es, question=True)

    def location(self):
        """The ball is under the table / La bola está debajo de la mesa"""
        subj = self.subject(ANIMATE + SMALL_THINGS, p_plural=0.3, p_adj=0.35)
        pl = subj.plural
        place_en, place_es = self.place_phrase(places_for(subj.noun.en))
        en = subj.en() + ["are" if pl else "is"] + place_en
        es = subj.es() + ["están" if pl else "está"] + place_es
        return sentence(en, es)

    def location_question(self):
        """Is the cat in the house? / ¿Está el gato en la casa?"""
        subj = self.subject(ANIMATE + SMALL_THINGS, p_plural=0.3, p_adj=0.0)
        pl = subj.plural
        place_en, place_es = self.place_phrase(places_for(subj.noun.en))
        en = ["are" if pl else "is"] + subj.en() + place_en
        es = ["están" if pl else "está"] + subj.es() + place_es
        return sentence(en, es, question=True)

    def see(self, past=False):
        """The dog sees the red ball / El gato vio al ratón blanco"""
        subj = self.subject(ANIMATE)
        pool = [n.en for n in NOUNS if n.kind != "mass" and n.en != subj.noun.en]
        noun = N[self.rng.choice(pool)]
        obj = NP(noun, self.rng.random() < 0.3, "the", self.maybe_adj(noun.en, 0.4))
        verb = V["see"]
        en = subj.en() + [verb.en[(subj.plural, past)]] + obj.en()
        es = subj.es() + [verb.es[(subj.plural, past)]] + obj.es(personal_a=noun.animate)
        return sentence(en, es)

    def eat(self, past=False):
        """The horse eats apples / El ratón comió el queso"""
        subj = self.subject(ANIMATE)
        food = N[self.rng.choice(FOOD_FOR[subj.noun.en])]
        r = self.rng.random()
        if food.kind == "mass":
            det = "the" if (past or r < 0.5) else "bare"
            obj = NP(food, False, det)
        elif past or r < 0.4:
            obj = NP(food, r < 0.2, "the", self.maybe_adj(food.en, 0.4))
        elif r < 0.7:
            obj = NP(food, False, "a", self.maybe_adj(food.en, 0.4))
        else:
            obj = NP(food, True, "bare", self.maybe_adj(food.en, 0.3))
        verb = V["eat"]
        en = subj.en() + [verb.en[(subj.plural, past)]] + obj.en()
        es = subj.es() + [verb.es[(subj.plural, past)]] + obj.es()
        return sentence(en, es)

    def drink(self, past=False):
        """The black cat drank the milk / Los gatos beben leche"""
        subj = self.subject([a for a in ANIMATE if a != "bird"])
        det = "the" if (past or self.rng.random() < 0.5) else "bare"
        obj = NP(N["milk"], False, det)
        verb = V["drink"]
        en = subj.en() + [verb.en[(subj.plural, past)]] + obj.en()
        es = subj.es() + [verb.es[(subj.plural, past)]] + obj.es()
        return sentence(en, es)

    def want(self):
        """The girl wants a yellow ball / Los perros quieren el pan"""
        subj = self.subject(ANIMATE)
        if subj.noun.kind == "person":
            pool = ["ball", "flower", "box", "car", "truck", "house", "apple",
                    "bread", "cheese", "milk"]
        elif subj.noun.en in ("horse", "cow"):
            pool = FOOD_FOR[subj.noun.en] + ["milk"]
        else:
            pool = ["ball", "box"] + FOOD_FOR[subj.noun.en] + ["milk"]
        noun = N[self.rng.choice(pool)]
        if noun.kind == "mass":
            obj = NP(noun, False, "the")
        elif self.rng.random() < 0.5:
            obj = NP(noun, False, "a", self.maybe_adj(noun.en, 0.5))
        else:
            obj = NP(noun, self.rng.random() < 0.25, "the", self.maybe_adj(noun.en, 0.5))
        verb = V["want"]
        en = subj.en() + [verb.en[(subj.plural, False)]] + obj.en()
        es = subj.es() + [verb.es[(subj.plural, False)]] + obj.es()
        return sentence(en, es)

    def have(self):
        """The boy has two red balls / La niña tiene una flor blanca"""
        if self.rng.random() < 0.7:
            subj = self.subject(PEOPLE, p_plural=0.25, p_adj=0.25)
            obj = self.count_np(["ball", "flower", "box", "car", "truck", "apple", "house"])
        else:
            subj = self.subject(["cat", "dog", "bird", "mouse"], p_plural=0.25, p_adj=0.25)
            obj = self.count_np(["ball", "flower", "box", "apple"])
        verb = V["have"]
        en = subj.en() + [verb.en[(subj.plural, False)]] + obj.en()
        es = subj.es() + [verb.es[(subj.plural, False)]] + obj.es()
        return sentence(en, es)

    def intransitive(self):
        """The dog runs / Los gatos duermen debajo de la mesa"""
        subj = self.subject(ANIMATE)
        name = self.rng.choice(["run", "sleep"])
        verb = V[name]
        en = subj.en() + [verb.en[(subj.plural, False)]]
        es = subj.es() + [verb.es[(subj.plural, False)]]
        if self.rng.random() < 0.6:
            if name == "run":
                choices = [("in", "house")]
            else:
                choices = [c for c in places_for(subj.noun.en) if c[0] != "on"]
            place_en, place_es = self.place_phrase(choices)
            en += place_en
            es += place_es
        return sentence(en, es)

    def coordinated(self):
        """The cat and the dog are black / La bola y la caja son rojas"""
        kind = self.rng.choice(["animate", "things"])
        pool = ANIMALS if kind == "animate" else ["ball", "box", "car", "truck", "house", "table"]
        a, b = self.rng.sample(pool, 2)
        a, b = N[a], N[b]
        np_a, np_b = NP(a), NP(b)
        en = np_a.en() + ["and"] + np_b.en()
        es = np_a.es() + ["y"] + np_b.es()
        what = self.rng.choice(["copula", "verb"]) if kind == "animate" else "copula"
        if what == "copula":
            shared = [x for x in ADJ_FOR[a.en] if x in ADJ_FOR[b.en]]
            adj = self.rng.choice(shared)
            # Mixed genders take the masculine plural.
            g = "f" if (a.gender == "f" and b.gender == "f") else "m"
            en += ["are", adj]
            es += ["son", A[adj].es(g, True)]
        else:
            name = self.rng.choice(["run", "sleep", "drink"])
            en += [V[name].en[(True, False)]]
            es += [V[name].es[(True, False)]]
            if name == "drink":
                obj = NP(N["milk"], False, self.rng.choice(["the", "bare"]))
                en += obj.en()
                es += obj.es()
        return sentence(en, es)

    # Relative weights of the templates (sums to 100).
    def random_pair(self):
        table = [
            (17, self.copula),
            (4, self.copula_negative),
            (4, self.copula_question),
            (12, self.location),
            (2, self.location_question),
            (12, lambda: self.see(past=False)),
            (6, lambda: self.see(past=True)),
            (7, lambda: self.eat(past=False)),
            (5, lambda: self.eat(past=True)),
            (4, lambda: self.drink(past=False)),
            (4, lambda: self.drink(past=True)),
            (7, self.want),
            (7, self.have),
            (6, self.intransitive),
            (4, self.coordinated),
        ]
        total = sum(w for w, _ in table)
        r = self.rng.randrange(total)
        for w, fn in table:
            if r < w:
                return fn()
            r -= w
        raise AssertionError("unreachable")


def words_of(text):
    """Lower-cased words with the question marks stripped (for vocabulary checks)."""
    return [w.strip("¿?").lower() for w in text.split()]


def vocab(pairs, side):
    seen = {}
    for p in pairs:
        for w in words_of(p[side]):
            seen[w] = seen.get(w, 0) + 1
    return seen


def make_toy_en_es():
    rng = random.Random(TOY_SEED)
    grammar = ToyGrammar(rng)

    pool = list(SEED_PAIRS)
    seen_en = {en for en, _ in pool}
    seen_es = {es for _, es in pool}
    target = TOY_TRAIN_SIZE + TOY_DEV_SIZE
    while len(pool) < target:
        en, es = grammar.random_pair()
        if en in seen_en or es in seen_es:
            continue
        seen_en.add(en)
        seen_es.add(es)
        pool.append((en, es))

    rng.shuffle(pool)
    seeds = set(SEED_PAIRS)
    # Dev gets the first eligible pairs after the shuffle; a pair is eligible if
    # it is not a seed and every one of its words (both sides) occurs in train.
    dev_candidates = [p for p in pool if p not in seeds][:TOY_DEV_SIZE]
    train = [p for p in pool if p not in dev_candidates]
    train_en, train_es = vocab(train, 0), vocab(train, 1)
    dev = []
    for p in dev_candidates:
        if all(w in train_en for w in words_of(p[0])) and \
           all(w in train_es for w in words_of(p[1])):
            dev.append(p)
        else:
            train.append(p)

    # Top up: keep drawing sentences until every word on either side occurs at
    # least TOY_MIN_COUNT times in train, taking only draws that use a rare word.
    for _ in range(100000):
        counts = (vocab(train, 0), vocab(train, 1))
        rare = [{w for w, c in counts[side].items() if c < TOY_MIN_COUNT}
                for side in (0, 1)]
        if not rare[0] and not rare[1]:
            break
        en, es = grammar.random_pair()
        if en in seen_en or es in seen_es:
            continue
        if any(w in rare[0] for w in words_of(en)) or \
           any(w in rare[1] for w in words_of(es)):
            seen_en.add(en)
            seen_es.add(es)
            train.append((en, es))
    else:
        raise AssertionError("could not reach the minimum word count")

    # The seed examples open train.tsv so a newcomer sees them first; the rest
    # is shuffled again so the top-up sentences are not bunched at the end.
    rest = [p for p in train if p not in seeds]
    rng.shuffle(rest)
    return list(SEED_PAIRS) + rest, dev


def self_check_toy(train, dev):
    for p in SEED_PAIRS:
        assert p in train, p
    for en, es in train + dev:
        assert "\t" not in en + es and "\n" not in en + es
    assert len({p[0] for p in train + dev}) == len(train) + len(dev)
    assert len({p[1] for p in train + dev}) == len(train) + len(dev)
    # Re-derive the seed sentences from the grammar itself, to prove the
    # seeds use the same word mapping as everything else.
    ball_en, ball_es = sentence(NP(N["ball"]).en() + ["is", "blue"],
                                NP(N["ball"]).es() + ["es", A["blue"].es("f", False)])
    assert (ball_en, ball_es) == SEED_PAIRS[0]
    cat, milk = NP(N["cat"], adj="black"), NP(N["milk"])
    assert sentence(cat.en() + [V["drink"].en[(False, True)]] + milk.en(),
                    cat.es() + [V["drink"].es[(False, True)]] + milk.es()) == SEED_PAIRS[1]


# --------------------------------------------------------------------------
# Copy and reverse tasks
# --------------------------------------------------------------------------

SYMBOLS = list("abcdefghijklmnopqrst")  # 20 symbols
SEQ_TRAIN_SIZE = 2000
SEQ_DEV_SIZE = 100


def make_sequence_task(seed, transform):
    rng = random.Random(seed)
    seen = set()
    rows = []
    while len(rows) < SEQ_TRAIN_SIZE + SEQ_DEV_SIZE:
        length = rng.randint(3, 8)
        seq = [rng.choice(SYMBOLS) for _ in range(length)]
        src = " ".join(seq)
        if src in seen:
            continue
        seen.add(src)
        rows.append((src, " ".join(transform(seq))))
    # Rows are unique and already in random order: the last ones are dev.
    return rows[:SEQ_TRAIN_SIZE], rows[SEQ_TRAIN_SIZE:]


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

def tsv(pairs):
    return "".join(f"{a}\t{b}\n" for a, b in pairs).encode("utf-8")


def build_outputs():
    toy_train, toy_dev = make_toy_en_es()
    self_check_toy(toy_train, toy_dev)
    copy_train, copy_dev = make_sequence_task(1001, lambda s: s)
    rev_train, rev_dev = make_sequence_task(2002, lambda s: s[::-1])
    return [
        ("data/toy-en-es/train.tsv", tsv(toy_train)),
        ("data/toy-en-es/dev.tsv", tsv(toy_dev)),
        ("data/copy/train.tsv", tsv(copy_train)),
        ("data/copy/dev.tsv", tsv(copy_dev)),
        ("data/reverse/train.tsv", tsv(rev_train)),
        ("data/reverse/dev.tsv", tsv(rev_dev)),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if any file differs from what would be written")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    help="project root to write under (default: this checkout)")
    args = ap.parse_args()

    stale = []
    for rel, data in build_outputs():
        path = os.path.join(args.root, rel)
        if args.check:
            try:
                with open(path, "rb") as f:
                    if f.read() != data:
                        stale.append(rel)
            except FileNotFoundError:
                stale.append(rel)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        lines = data.count(b"\n")
        print(f"wrote {rel} ({lines} lines)")
    if args.check:
        if stale:
            for rel in stale:
                print(f"make_toy_corpora: stale: {rel}", file=sys.stderr)
            return 1
        print("all corpora up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
