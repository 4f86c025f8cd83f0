"""Options shown in a per-sitting order: no position cue, the same order on every reload, and the stored
response says which written option was chosen and in what order it was shown."""
from __future__ import annotations

import itertools
from collections import Counter

from sqlalchemy import select, update

from item_bank import delivery
from item_bank.delivery.presentation import option_order
from item_bank.runtime import ItemContent, item_content
from storage import Candidate, Item, Response, Sitting
from storage.db import transaction

EXAM = "social-media-frontline"


def content(shuffle: bool = True) -> ItemContent:
    return ItemContent(id=1, external_id="DEF-001", version=1, scenario="s", question="q",
                       option_texts=("a", "b", "c", "d"), key_index=2, shuffle=shuffle)


def test_the_order_is_a_permutation_fixed_by_the_sitting_and_question():
    item = content()
    orders = {option_order(seed, seq, item) for seed, seq in itertools.product(range(40), range(1, 6))}
    assert all(sorted(order) == [0, 1, 2, 3] for order in orders)
    assert len(orders) == 24  # every order of four options occurs
    assert option_order(7, 3, item) == option_order(7, 3, item)  # a reload shows the same order


def test_the_key_lands_in_each_position_about_equally_often():
    """Over 4,000 sittings the key's position is uniform (chi-square, 3 df, far beyond p = 0.001 would be 16.3)."""
    item = content()
    counts = Counter(option_order(seed, 1, item).index(item.key_index) for seed in range(4000))
    chi_square = sum((counts[p] - 1000) ** 2 / 1000 for p in range(4))
    assert set(counts) == {0, 1, 2, 3} and chi_square < 16.3, counts


def test_an_item_that_opts_out_keeps_its_written_order():
    assert {option_order(seed, 1, content(shuffle=False)) for seed in range(50)} == {(0, 1, 2, 3)}


def test_a_sitting_shows_the_shuffled_order_and_stores_the_option_clicked(factory):
    with transaction(factory) as db:
        candidate = Candidate(name="Shuffle", email="shuffle@example.com")
        db.add(candidate)
        db.flush()
        sid = delivery.start_sitting(db, candidate_id=candidate.id, exam_id=EXAM).id
    with transaction(factory) as db:
        row = db.get(Sitting, sid)
        shown = delivery.current_item(db, sid)
        item = item_content(db, row.pending_item_id)
        order = option_order(row.seed, row.pending_seq, item)
        assert shown.options == [item.option_texts[written] for written in order]
        assert delivery.current_item(db, sid).options == shown.options  # the same after a reload
        position = order.index(item.key_index)
    outcome = delivery.submit_answer(factory, sid, seq=shown.seq, item_ref=shown.item_ref, choice=position)
    assert not outcome.duplicate
    with transaction(factory) as db:
        response = db.execute(select(Response).where(Response.session_id == sid)).scalar_one()
        assert (response.choice, response.option_order, response.score) == (item.key_index, list(order), 1)


def test_an_item_marked_not_to_shuffle_is_shown_as_written(factory):
    with transaction(factory) as db:
        db.execute(update(Item).values(shuffle=False))
        candidate = Candidate(name="Fixed", email="fixed@example.com")
        db.add(candidate)
        db.flush()
        sid = delivery.start_sitting(db, candidate_id=candidate.id, exam_id=EXAM).id
    with transaction(factory) as db:
        shown = delivery.current_item(db, sid)
        item = item_content(db, db.get(Sitting, sid).pending_item_id)
        assert shown.options == list(item.option_texts)


def test_the_loader_keeps_the_order_rule_and_relabels_what_the_key_teaches_in_place(factory):
    import dataclasses

    from item_bank.content import load_items
    from item_bank.loader import stored_items, upsert_item

    source = next(i for i in load_items() if i.external_id == "DEF-001")
    with transaction(factory) as db:
        fixed, outcome = upsert_item(db, dataclasses.replace(source, shuffle=False), actor="test")
        assert outcome == "revised" and fixed.shuffle is False
        relabelled, outcome = upsert_item(db, dataclasses.replace(source, shuffle=False, teaches="protected"),
                                          actor="test")
        assert outcome == "unchanged" and relabelled.id == fixed.id and relabelled.teaches == "protected"
        back = next(i for i in stored_items(db) if i.external_id == "DEF-001")
        assert (back.shuffle, back.teaches) == (False, "protected")
