"""What a question asks for (rag.consistency.asked_detail) and whether a claim gives it (gives_detail)."""

from __future__ import annotations

import pytest

from rag.consistency import asked_detail, gives_detail


@pytest.mark.parametrize("question, asked", [
    ("How many people were killed in the Kerman bombing?", "number"),
    ("Welchen Wert hatte der Waffenvertrag, den Schoigu unterzeichnet hat?", "number"),
    ("Combien de drones Shahed l'Iran a-t-il livrés ?", "number"),
    ("كم عدد الأشخاص الذين قُتلوا في تفجير كرمان؟", "number"),
    ("¿Cuántos soldados llegaron?", "number"),
    ("Сколько человек погибло?", "number"),
    ("In what year did Harvard end its early admission program?", "number"),
    ("Quanto costa il contratto?", "number"),
    ("Quel jour de la semaine Choïgou est-il arrivé en Iran ?", "day"),
    ("An welchem Wochentag trafen sich Patruschew und Ahmadian?", "day"),
    ("في أي يوم وصل شويغو إلى طهران؟", "day"),
    ("Who claimed the bombing?", None),
    ("Quand auront lieu les exercices navals ?", None),  # an event answers "when" too
    ("In quanto ministro, che cosa ha detto Shoigu?", None),  # "in quanto": "as"
    ("ما الاتفاق الذي توصل إليه شويغو وباقري؟", None),
])
def test_questions_that_ask_for_a_number_or_a_day(question, asked):
    assert asked_detail(question) == asked


@pytest.mark.parametrize("claim, gives", [
    ("At least 94 people were killed [1].", True),
    ("٩٤", True),
    ("Iran delivered twelve drones.", True),
    ("Des centaines de personnes ont été blessées.", True),
    ("قُتل عشرات الأشخاص.", True),
    ("Schoigu unterzeichnete den Vertrag in Teheran.", False),
    ("Сотрудничество вышло на новый уровень.", False),  # сотрудничество is not сотни
    ("Сотни людей погибли.", True),
])
def test_a_number_in_digits_words_or_rough_quantity_answers_how_many(claim, gives):
    assert gives_detail("number", claim, []) is gives


def test_the_day_given_must_be_one_the_evidence_names():
    evidence = ["Am Dienstag traf Shoigu mit dem Generalstabschef Mohammad Bagheri zusammen."]
    assert gives_detail("day", "Shoigu met Bagheri on Tuesday.", evidence)
    assert gives_detail("day", "التقى شويغو باقري يوم الثلاثاء", evidence)
    assert not gives_detail("day", "Shoigu met Bagheri on Monday.", evidence)
    assert not gives_detail("day", "Shoigu met Bagheri.", evidence)
    assert not gives_detail("day", "Shoigu arrived on Tuesday.", ["Shoigu arrived in Iran the same day."])  # no day to back it
