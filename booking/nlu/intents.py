"""What the client wants: one intent per message, by phrase rules over words and lemmas.

Each intent has patterns searched in the normalized text and in its lemma string (every token
replaced by its likeliest lemma, so ``отмените``/``отменяю`` both read ``отменить``). When several
match, the first in this order wins: human, reschedule, cancel, my_records, then an explicit
booking verb (``запишите``, ``записаться``) beats the questions hours_address, prices and services;
then book (a booking word, or any slot: service, master, date, time, part of day), decline, a
put-off answer (``я подумаю``, ``посмотрю и напишу``: other), confirm, thanks, greeting, other. A
cancel with the client's own later rebooking (``отмените, перезапишусь сама``) is a cancel; ``не
успеваю к 3, можно на 5`` is a move. ``да``/``нет`` followed by a slot (``да, в 5``, ``нет, давайте в пятницу``)
is a booking answer, not a bare confirm/decline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HUMAN = re.compile(
    r"администратор|\bадмин[ауе]?\b|оператор|менеджер|жив(?:ой|ого|ым|ому)\s+(?:человек|сотрудник|админ)"
    r"|с\s+человеком|\bчеловек\w*\s+(?:ответ|напиш|позов)|позов(?:и|ите)\b|соедин(?:и|ите)|свяж(?:ите|итесь|ись)"
    r"|перезвон|позвон(?:и|ите)\s+мне|набер(?:и|ите)\s+мне|управляющ|руководител|хозяйк|жалоб"
    r"|\bне\s+(?:с\s+)?бот\w*|\bс\s+ботом\b|\bты\s+бот|\bвы\s+бот|реальн\w+\s+человек|сотрудник"
    # complaints go to a person: "испортили ногти, хочу вернуть деньги"
    r"|верн\w*\s+(?:мне\s+)?(?:деньги|денежки|оплату|предоплату)|возврат\w*\s+(?:денег|средств|оплаты)|\bиспортил"
    r"|претензи|недовольн"
    # waiting in the salon and nobody comes: "я уже 20 минут жду мастера", "никто не выходит"
    r"|\bжд(?:у|ем|ём)\s+(?:уже\s+)?(?:\d+|полчаса|час|минут\w*|мастер\w*|администратор\w*)"
    r"|\b(?:\d+|полчаса|час)\s+(?:минут\w*\s+)?жд(?:у|ем|ём)\b|сколько\s+(?:можно|ещ[её]|мне)\s+ждать"
    r"|\bникто\s+не\s+(?:выход|подход|встреча|открыва|отвеча|принима)\w*|\bмастер\w*\s+(?:нет|не\s+приш\w*)\b"
    r"|\bя\s+(?:уже\s+)?(?:на\s+месте|в\s+салоне|у\s+двери|у\s+входа)\b"
)
_RESCHEDULE = re.compile(
    r"перенести|переносить|\bперенос\b|перезаписать|перезаписаться|передвинуть|сдвинуть|подвинуть|сместить"
    r"|перебронировать|(?:поменять|изменить|сменить)\s+(?:время|день|дата|число|запись|мой\s+запись)"
    r"|на\s+друг(?:ой)\s+(?:время|день|число|дата)|другой\s+(?:время|день)|вместо\s+\w+\s+(?:на|в)\b"
    r"|(?:поменять|сменить|изменить)\s+мастер|\bмастер\w*\s+(?:поменять|сменить|изменить)"
)
# "не успеваю к 3, можно на 5": the client cannot make an appointment they have and names another time.
# "не смогу в среду, давайте в четверг", "завтра не получится, можно на пятницу": the same for a day.
_LATE_FOR_APPOINTMENT = re.compile(
    r"\bне\s+(?:успеваю|успею|успеть|успеем)\s+к\s+\S+.*\b(?:можно|давайте|лучше|перенес\w*)\s+(?:на|в|к)\b"
    r"|\bне\s+(?:смогу|сможем|получится|выйдет|успею|успеваю)\s+(?:прийти\s+|подойти\s+)?(?:в|во|на)?\s*"
    r"(?:сегодня|завтра|послезавтра|понедельник|вторник|среду|четверг|пятницу|субботу|воскресенье)\b"
    r".*\b(?:можно|давайте|лучше)\s+(?:на|в|во)\b"
    r"|\b(?:(?:в|во|на)\s+)?(?:сегодня|завтра|послезавтра|понедельник|вторник|среду|четверг|пятницу|субботу"
    r"|воскресенье)\s+(?:я\s+|мы\s+)?не\s+(?:смогу|сможем|получится|выйдет|успею|успеваю)\b"
    r".*\b(?:можно|давайте|лучше)\s+(?:на|в|во)\b"
)
# "у меня завтра запись, можно её на пятницу в 10?": a visit the client has, then another day or time asked.
OWN_VISIT_THEN_ASK = re.compile(
    r"(?:\bу\s+меня\s+(?:\S+\s+){0,3}?запис\w*|\bя\s+(?:\S+\s+){0,2}?записан\w*|\bмо(?:я|ю)\s+запис\w*)"
    r".*?\b(?P<ask>можно|давайте|лучше|нельзя\s+ли)\s+(?:е[её]\s+|его\s+|меня\s+)?(?:на|в|во|к)\b"
)
# "отмените запись на завтра и запишите на пятницу": a cancel and a new booking together are a move.
_CANCEL_THEN_BOOK = re.compile(
    r"\bотмен\w*\b.*\b(?:запиш|записат|записыв)\w*\s+(?:меня\s+)?(?:на|в|во|к|ко)\b"
)
# "перезапишусь позже сама": the client will book again on their own — not a move now.
_SELF_REBOOK = re.compile(r"\bперезапиш(?:усь|емся)\b|\bзапишусь\s+(?:позже|потом|снова|заново|еще\s+раз)\b")
# "хорошо, я подумаю", "ок сейчас посмотрю и напишу": the answer is put off — neither yes nor no.
_DEFER = re.compile(
    r"\bподума\w*|\bпосмотрю\s+(?:и|по)\b|\bуточню\b|\bотпишусь\b|\bнапишу\s+(?:позже|потом|попозже|вечером)"
    r"|\bпозже\s+напишу\b|\bсообщу\b|\bдам\s+знать\b|\bпосоветуюсь\b|\bпрорешаю\b|\bрешу\s+(?:и|позже|потом)"
)
# "а шугаринг есть?", "депиляцию делаете?": is a procedure (by its ending) offered at all.
_PROCEDURE_OFFERED = re.compile(
    r"^(?:а\s+)?(?:у\s+вас\s+)?(?:есть\s+ли\s+)?\w{3,}(?:инг|ция|цию|ние|аж)\s+(?:у\s+вас\s+)?(?:есть|делаете|бывает)\b"
    r"|^(?:а\s+)?есть\s+(?:ли\s+)?(?:у\s+вас\s+)?\w{3,}(?:инг|ция|ние|аж)\s*(?:\?|$)"
)
# "сколько длится наращивание": how long a service takes (answered by the services list) — unless a
# day or time is said ("стрижка в субботу, сколько по времени займет" books).
_DURATION = re.compile(
    r"сколько\s+(?:длится|идет|займет|занимает|по\s+времени|времени)|длительность|как\s+долго\s+(?:длится|делается|идет)"
)
# "не надо переносить", "не переносить", "переносить не будем": a move refused (with a cancel: the cancel).
_NO_MOVE = re.compile(
    r"\bне\s+(?:надо\s+|нужно\s+|буду\s+|будем\s+|хочу\s+|стоит\s+)?(?:перенос|перенес|перезапис|сдвиг|сдвин)\w*"
    r"|\b(?:перенос|перенес|сдвиг|сдвин)\w*\s+не\s+(?:надо|нужно|буду|будем|хочу|стоит)\b"
)
# "перенесли", "перенесла", "сдвинули": a move that already happened (to something else), no request.
PAST_MOVE = re.compile(
    r"перенесл[аио]|перенес|перенесен\w*|(?:пере|по)?сдвинул\w*|передвинул\w*|подвинул\w*|поменял\w*"
    r"|изменил\w*|сменил\w*"
)
_MOVE_VERB = re.compile(r"перенес|перенос|перезапис|сдвин|передвин|подвин|поменя|измени")
_SERVICE_QUESTION = re.compile(
    r"есть\s+ли\s+у\s+вас|у\s+вас\s+(?:есть|делают|бывает|делается)|\bбывает\s+ли|\bесть\s+у\s+вас\s*(?:\?|$)"
    r"|\b(?:делают|делаете)\s+(?:ли\s+)?у\s+вас\b"
)
_CANCEL = re.compile(
    r"\bотменить\b|\bотмена\b|\bотменять\b|\bотмениться\b|аннулировать|\bудалить\b.{0,20}\bзапись\b"
    r"|\bснять\b.{0,12}\bзапись\b|\bубрать\b.{0,12}\bзапись\b|\bвычеркнуть\b|отказаться\s+от|\bне\s+(?:смочь|получиться|успеть|мочь)\s+(?:\S+\s+){0,2}?"
    r"(?:прийти|придти|подойти|приехать|быть|дойти)\b|\bне\s+прийти\b|\bне\s+придти\b"
)
# "запись больше не нужна", "уберите мою запись": the client's visit is not wanted.
_VISIT_NOT_NEEDED = re.compile(
    r"\bзапис[ьи]\s+(?:\w+\s+){0,2}?не\s+(?:нужн\w*|надо)\b|\b(?:уберите|удалите|снимите|уберешь|удали|убери)"
    r"\s+(?:\w+\s+)?запис[ьи]\b"
)
_MY_RECORDS = re.compile(
    r"на\s+когда\s+я|когда\s+я\s+запис|во\s+сколько\s+я\s+запис|запис\w*\s+ли\s+я|\bмо(?:и|я|ю|ей)\s+запис"
    r"|у\s+меня\s+(?:есть\s+)?запис|есть\s+ли\s+у\s+меня|куда\s+я\s+запис|как\w*\s+у\s+меня\s+запис"
    r"|когда\s+у\s+меня|во\s+сколько\s+у\s+меня|напомн\w*.{0,25}(?:время|запис|когда|во\s+сколько)"
    r"|(?:проверить|посмотреть|уточнить)\s+(?:мою\s+|свою\s+)?запис|на\s+какое\s+(?:время|число)\s+я"
    r"|на\s+какой\s+день\s+я|\bя\s+(?:\w+\s+){0,3}записан\w*\s*\?|\bя\s+(?:же\s+)?записан\w*\s+(?:на|к)\b.*\?"
    r"|(?:когда|во\s+сколько)\s+мне\s+(?:приходить|прийти|подходить|подойти|надо|нужно)"
    r"|запис\w*.{0,40}\bне\s+помню|\bне\s+помню.{0,30}(?:запис|когда|во\s+сколько|какое\s+число|на\s+какое)"
)
_PRICES = re.compile(
    r"сколько\s+стоить|стоимость|\bцена\b|\bценник\b|прайс|прейскурант|почем|\bпо\s+чем\b|расценка"
    r"|сколько\s+(?:быть\s+)?(?:выйти|по\s+деньги|деньги|это\s+стоить|стоить|брать|за\b)|обойтись"
    r"|\bстоить\b.{0,30}\?|сколько\s+у\s+вы\b"
)
_PRICES_RAW = re.compile(
    # "снятие отдельно оплачивается?", "это платно?", "входит ли в стоимость": whether something costs extra
    r"оплачива|\bдоплат|\bплатн|\bбесплатн|входит\s+ли\s+в\s+(?:стоимост|цен)|\bза\s+отдельную\s+плату"
    r"|сколько\s+стоит|сколько\s+стоят|\bцен[аыу]?\b|\bценник|стоимост|почем|по\s+чем|прайс"
    r"|(?<!во\s)\bсколько\s*(?:\?|$)|\bсколько\s+(?:за|будет|выйдет)\b"
)
_SERVICES = re.compile(
    r"\bделаете\b|\bделают\b|\bумеете\b|какие\s+(?:у\s+вас\s+)?(?:есть\s+)?(?:услуг|процедур)|список\s+услуг"
    r"|перечень|ваши\s+услуги|что\s+у\s+вас\s+(?:есть|делают|можно)|что\s+вы\s+(?:предлагаете|делаете)"
    r"|чем\s+(?:вы\s+)?занимаетесь|какие\s+услуги|\bуслуги\s*\?|есть\s+ли\s+у\s+вас\s+(?:услуга|процедура)"
    r"|\bвы\s+делаете|\bделаете\s+ли|занимаетесь\s+ли|какие\s+виды|что\s+по\s+услугам|меню\s+услуг"
    r"|^(?:а\s+)?что\s+(?:у\s+вас\s+)?(?:есть\s+)?(?:для|по|из)\s+(?!врем|дат|числ|дн)\w+"
)
_HOURS_ADDRESS = re.compile(
    r"адрес|где\s+(?:вы|вас|находит|располож|наход|салон|это)|как\s+(?:вас\s+|к\s+вам\s+)?(?:найти|добраться|доехать|"
    r"пройти|проехать)|куда\s+(?:идти|ехать|подъехать|приезжать|подходить)|\bметро\b|парковк|режим\s+работы"
    r"|график\s+работы|часы\s+работы|до\s+скольк|во\s+сколько\s+(?:\w+\s+){0,2}(?:открыва|закрыва|работа|начина|заканчива)"
    r"|когда\s+(?:\w+\s+){0,2}(?:открыва|закрыва)|когда\s+(?:вы\s+)?работа|вы\s+работаете|работаете\s+(?:ли\s+)?(?:в|во|сегодня|завтра|по|без)"
    r"|\bработаете\s*\?|открыты|расположен|локаци|геолокац|ориентир|какой\s+этаж|\bвход\b|как\s+работаете"
    r"|ваш\s+телефон|номер\s+телефона\s+салона|телефон\s+салона|вы\s+открыты|открыто\s+ли"
    r"|как(?:ой|ой\s+у\s+вас)\s+(?:номер\s+)?телефон|у\s+вас\s+(?:номер\s+)?телефон\w*\s*\?"
)
_BOOK_STRONG = re.compile(
    r"запиш|записат|записыв|забронир|\bбронь\b|\bзапись\s+на\b|\bзапис\w*\s+к\b|\bбы\s+записал|записал\w*\s+бы"
)
_BOOK_WEAK = re.compile(
    r"\bзапись\b|\bзаписи\b|свободн|окош|\bокн[оа]\b|\bокон\b|попасть|\bприйти\b|\bподойти\b|\bпридти\b|мест[оае]чк"
    r"|\bмест[оа]\b|на\s+при[её]м|\bбронир|\bзанять\b|\bзаймите\b|можно\s+(?:ко?|на)\s|хочу\s+(?:ко?|на)\s"
    r"|хотел\w*\s+бы\s+(?:ко?|на)\s|нужно\s+(?:ко?|на)\s|есть\s+(?:ли\s+)?(?:время|местечко|свободн)"
    r"|друг\w*\s+(?:время|день|дни|вариант\w*|окн\w*)|\bпопозже\b|\bпораньше\b|\bеще\s+(?:время|вариант)"
)
_FILLERS = re.compile(r"^(?:(?:ну|а|так|ой|эм|хм|мм)\s+)+")
_DECLINE_START = re.compile(
    r"^(?:нет|неа|не-а|нее|нету|не\s+спасибо|не$|не\s+надо|не\s+нужно|отбой|не\s+хочу|не\s+подходит|не\s+получится|не\s+будем"
    r"|не\s+стоит|пока\s+нет|не\s+актуально|неактуально|уже\s+не\s+надо|no|nope)\b"
)
_DECLINE_ANY = re.compile(
    r"передумал|\bотбой\b|\bне\s+надо\b|\bне\s+нужно\b|\bне\s+подходит\b|\bне\s+актуально|неактуально|\bнеудобно\b"
    r"|\bне\s+удобно\b|\bнет\b(?!\s+ли\b)|\bне\s+устраивает\b|\bне\s+получится\b|\bне\s+записывайте|\bне\s+буду\b|\bне\s+хочу\b"
    r"|\bни\s+одно\b|\bникак\b|\bне\s+могу\b"
)
_STRETCHED = re.compile(r"([а-яa-z])\1+")
_CONTRAST_ASK = re.compile(r"\b(?:а|но|лучше|давайте|давай|можно|тогда)\b")
_CONFIRM_START = re.compile(
    r"^(?:да|дада|да-да|ага|угу|ок|окей|оке|окей|ok|okay|хорошо|хорош|отлично|подтверждаю|давайте|давай|верно"
    r"|все\s+верно|точно|конечно|договорились|идет|подходит|супер|годится|записывайте|бронируйте|согласна|согласен"
    r"|yes|\+|правильно|именно|замечательно|прекрасно|пойдет|устраивает|ес|йес|норм|нормально|отл|класс"
    r"|круто|ладно|лады|жду|буду|приду|подойдет|идеально|шикарно)\b"
)
_CONFIRM_ANY = re.compile(
    r"подтверждаю|подтверждаем|подтвердить|подтверждение|\bвсе\s+верно\b|записывайте|бронируйте|\bустраивает\b"
    r"|\bподходит\b|\bдоговорились\b|\bбуду\b|\bприду\b|\bсогласн\w*"
)
_CONFIRM_STRONG = re.compile(
    r"^(?:да|дада|да-да|ага|угу|подтверждаю|давайте|давай|верно|все\s+верно|конечно|договорились|записывайте"
    r"|бронируйте|согласна|согласен|yes|\+|правильно|именно|подходит|устраивает)\b|подтвержд|записывайте"
)
# "подтверждаю запись на завтра", "да, подтверждаю визит": the client confirms a visit they have.
_CONFIRM_VISIT = re.compile(
    r"^(?:да\s+)?(?:я\s+)?подтвержда(?:ю|ем)\b"
    r"(?:\s+(?:свою\s+|мою\s+)?(?:запись|визит)\b|\s*$)"
)
_THANKS = re.compile(r"спасиб|\bспс\b|благодар|пасиб|мерси|thank|\bthx\b|сенкс|\bсяп\b|спасибочк")
_GREETING = re.compile(
    r"^(?:привет\w*|здравствуй\w*|здрасте|здраствуй\w*|здрасьте|здрасти|здрастье|хай|hello|hi|приветствую"
    r"|салют|алло|ало|хелло|хеллоу|добрый|доброе|доброго|доброй|вечер\s+добрый|день\s+добрый)\b|\bздравствуйте\b"
)
_FAREWELL = re.compile(r"до\s+(?:свидания|встречи|завтра|связи)|всего\s+доброго|хорошего\s+дня")


# "я пока не записываюсь", "просто спросила": the client is not booking now (the flow ends politely).
NOT_BOOKING = re.compile(
    r"\bне\s+записыва\w*|\bпока\s+не\s+(?:буду\s+)?запис\w*|\bпросто\s+(?:спросил\w*|спрашива\w*|интерес\w*"
    r"|узна\w*|уточн\w*)"
)


_OR_NOT_ASKED = re.compile(r"\bили\s+нет\s*(?:\?|$)")


@dataclass(frozen=True)
class IntentResult:
    intent: str
    confidence: float


def classify(
    raw: str,
    lemmas: str,
    *,
    has_slots: bool,
    services_only: bool = False,
    context: dict[str, object] | None = None,
) -> IntentResult:
    """The intent of one message (see the module docstring for the order)."""
    raw = _OR_NOT_ASKED.sub(" ", raw).strip()  # "есть окошко в пятницу или нет?": a question, no "нет"
    if _HUMAN.search(raw):
        return IntentResult("human", 0.9)
    expecting = (context or {}).get("expecting")
    if _NO_MOVE.search(raw) and _CANCEL.search(lemmas):  # "не переносить. отменить": the cancel
        return IntentResult("cancel", 0.85)
    move = (
        _RESCHEDULE.search(lemmas)
        or _RESCHEDULE.search(raw)
        or _LATE_FOR_APPOINTMENT.search(raw)
        or _CANCEL_THEN_BOOK.search(raw)
        or (OWN_VISIT_THEN_ASK.search(raw) if has_slots else None)
    )
    cancel = _CANCEL.search(lemmas)
    if cancel is None and (context or {}).get("flow") != "book":
        cancel = _VISIT_NOT_NEEDED.search(raw)  # "запись больше не нужна" (not of a booking being made)
    if move and cancel and _SELF_REBOOK.search(raw):
        move = None  # "отмените, перезапишусь позже сама"
    if move and (_NO_MOVE.search(raw) or re.search(r"\bпередумал\w*\s+(?:\w+\s+)?перен", raw)):
        move = None  # "нет, не надо переносить", "передумала переносить": no move (a decline below)
    # While times are being offered, "а другое время есть?" asks for more times, not a move.
    if move and not (expecting in ("slot", "when") and not _MOVE_VERB.search(raw)):
        return IntentResult("reschedule", 0.9)
    if cancel:
        if cancel.group(0) == "отмена" and expecting in ("confirm", "confirmation") and len(raw.split()) <= 2:
            return IntentResult("decline", 0.8)
        return IntentResult("cancel", 0.9)
    if _MY_RECORDS.search(raw):
        return IntentResult("my_records", 0.85)
    strong_book = bool(_BOOK_STRONG.search(raw))
    head = _FILLERS.sub("", raw)  # "ну ок", "а да", "так нет": the answer after a filler word
    decline_start = bool(_DECLINE_START.search(head))
    # "дааа", "угууу", "нееет": a letter held longer is the same answer.
    squeezed = _STRETCHED.sub(r"\1", head)
    decline_start = decline_start or bool(_DECLINE_START.search(squeezed))
    confirm = bool(_CONFIRM_START.search(head) or _CONFIRM_START.search(squeezed) or _CONFIRM_ANY.search(raw))
    negated_booking = bool(re.search(r"\bне\s+(?:надо\s+)?запис", raw))
    if _CONFIRM_VISIT.search(head) and not negated_booking:
        return IntentResult("confirm", 0.85)  # "подтверждаю запись на завтра": the visit, not a new one
    # "да, записывайте" (no slot) is a confirmation, not a new booking request.
    if strong_book and not decline_start and not negated_booking and (has_slots or not confirm):
        return IntentResult("book", 0.9)
    if _HOURS_ADDRESS.search(raw):
        return IntentResult("hours_address", 0.85)
    if _PRICES.search(lemmas) or _PRICES_RAW.search(raw):
        return IntentResult("prices", 0.85)
    if _SERVICES.search(raw):
        return IntentResult("services", 0.8)
    # "а педикюр у вас есть?": asks whether the salon offers it (no day, time or master said).
    if services_only and _SERVICE_QUESTION.search(raw) and not _BOOK_WEAK.search(raw):
        return IntentResult("services", 0.75)
    if (services_only or not has_slots) and _DURATION.search(raw):
        return IntentResult("services", 0.7)
    if not has_slots and _PROCEDURE_OFFERED.search(raw):
        return IntentResult("services", 0.7)
    decline = decline_start or bool(_DECLINE_ANY.search(raw))
    if _THANKS.search(raw) and _FAREWELL.search(raw) and not strong_book:
        return IntentResult("thanks", 0.8)  # "спасибо, до встречи в субботу!"
    refusal = _DECLINE_ANY.search(raw)
    # "сегодня не могу, а в воскресенье после 2?": a refusal that asks for another time is a booking.
    asks_other = refusal is not None and bool(_CONTRAST_ASK.search(raw, refusal.end()))
    if has_slots and (not (decline and not decline_start) or asks_other):
        return IntentResult("book", 0.75 if (strong_book or _BOOK_WEAK.search(raw)) else 0.6)
    if decline:
        return IntentResult("decline", 0.8)
    if _DEFER.search(raw) and not _CONFIRM_STRONG.search(raw):
        return IntentResult("other", 0.5)
    if confirm:
        # "ок спасибо" after a booking is thanks; "да, спасибо" to a question is a confirmation.
        strong = _CONFIRM_STRONG.search(head) or _CONFIRM_STRONG.search(squeezed)
        weak = not strong and expecting not in ("confirm", "confirmation")
        if weak and _THANKS.search(raw):
            return IntentResult("thanks", 0.7)
        return IntentResult("confirm", 0.8)
    if strong_book or _BOOK_WEAK.search(raw):
        return IntentResult("book", 0.7)
    if _THANKS.search(raw) or _FAREWELL.search(raw):
        return IntentResult("thanks", 0.8)
    if _GREETING.search(raw):
        return IntentResult("greeting", 0.8)
    return IntentResult("other", 0.3)
