"""Report text for the benchmarks: what collectives write, in English, Spanish, Hindi
and Zulu (the demo's four languages), rather than one letter repeated.

A benchmark that sends ``"x" * 900`` as every report measures nothing about the bytes
on a link once sync bodies are compressed (they shrink a hundredfold), and random
letters would not shrink at all; real reports are prose. Each report here is built
from its own seeded draw of sentences, themselves drawn from parts (when, who, what
they did, what came of it), names, places and numbers, so no two reports are alike
and the vocabulary recurs as a collective's own does. It is still easier to compress
than free prose written by people (the parts recur whole), which is why
bench/slowlink_bench.py also reports what each event compresses to on its own, with
nothing shared between events: the bound no coding of the stream can do worse than.

    report_text(i, size)  # the i-th report's (title, body), about size bytes together
"""

from __future__ import annotations

import random

__all__ = ["LANGUAGES", "report_text"]

PARTS: dict[str, dict[str, list[str]]] = {
    "en": {
        "when": [
            "On {day}",
            "Last {day}",
            "This morning",
            "After the assembly",
            "Before the council session",
            "During the night shift",
            "At the end of the month",
            "Two weeks ago",
            "Early on {day}",
            "Over the weekend",
            "Yesterday afternoon",
            "For the third time this year",
        ],
        "who": [
            "{n} households from {place}",
            "the tenants of building {n}",
            "{name} and {name2}",
            "the night-shift workers at the warehouse",
            "neighbours from {place}",
            "the women's committee",
            "our youth group",
            "{n} members of the collective",
            "the parents of the school on {place} street",
            "street vendors from the market",
            "the cleaning crew of the hospital",
            "retired teachers and their families",
        ],
        "did": [
            "met the landlord's lawyer",
            "marched to city hall with banners",
            "collected {n} signatures for the water petition",
            "held a meeting about the rent increase",
            "painted the community kitchen",
            "visited every flat on the fourth floor",
            "asked the council for a written answer",
            "shared food with the families who were evicted",
            "learned how to file a complaint with the housing office",
            "stood at the factory gate handing out leaflets",
            "read the new zoning plan line by line",
            "organised childcare so that mothers could attend",
        ],
        "then": [
            "and agreed to meet again on {day}.",
            "; the council promised an answer within {n} days.",
            ", but the police asked everyone to leave.",
            "and nobody was hurt.",
            ", which the local radio reported the same evening.",
            "and decided to keep the rent in a shared account.",
            "; {name} will write to the newspaper about it.",
            ", and {n} new people joined us.",
            "and the landlord agreed to fix the roof before winter.",
            ", though the office was closed when we arrived.",
            "and we will report back at the next assembly.",
            "; the next step is a letter signed by every family.",
        ],
        "alone": [
            "The water was cut for {n} days and nobody from the city came.",
            "We need more volunteers for the kitchen on {day}.",
            "{name} explained the law on evictions in simple words.",
            "Several families still do not know their rights as tenants.",
            "The meeting ended late, but everyone stayed to clean up.",
            "The leaflets are ready in English and Spanish.",
            "Rents in {place} rose again, by {n} dollars on average.",
            "Bring chairs, the hall has only a few.",
        ],
        "title": [
            "Tenants' meeting in {place}",
            "Rent strike: week {n}",
            "Water cuts in {place}",
            "Report from the {day} assembly",
            "Evictions on {place} street",
            "What we learned at the council",
        ],
    },
    "es": {
        "when": [
            "El {day}",
            "El pasado {day}",
            "Esta mañana",
            "Después de la asamblea",
            "Antes de la sesión del concejo",
            "Durante el turno de noche",
            "A fin de mes",
            "Hace dos semanas",
            "Temprano el {day}",
            "Durante el fin de semana",
            "Ayer por la tarde",
            "Por tercera vez este año",
        ],
        "who": [
            "{n} familias de {place}",
            "los inquilinos del edificio {n}",
            "{name} y {name2}",
            "las trabajadoras del turno de noche de la maquila",
            "vecinos de {place}",
            "el comité de mujeres",
            "nuestro grupo de jóvenes",
            "{n} miembros del colectivo",
            "los padres de la escuela de la calle {place}",
            "las vendedoras del mercado",
            "el equipo de limpieza del hospital",
            "maestros jubilados y sus familias",
        ],
        "did": [
            "se reunieron con el abogado del dueño",
            "marcharon hasta la alcaldía con pancartas",
            "juntaron {n} firmas para la petición del agua",
            "hicieron una reunión sobre el alza del alquiler",
            "pintaron la cocina comunitaria",
            "visitaron cada apartamento del cuarto piso",
            "pidieron al concejo una respuesta por escrito",
            "compartieron comida con las familias desalojadas",
            "aprendieron a presentar una queja en la oficina de vivienda",
            "repartieron volantes en la puerta de la fábrica",
            "leyeron el nuevo plan de zonificación línea por línea",
            "organizaron el cuidado de los niños para que las madres pudieran venir",
        ],
        "then": [
            "y acordaron volver a reunirse el {day}.",
            "; el concejo prometió responder en {n} días.",
            ", pero la policía pidió a todos que se fueran.",
            "y nadie salió herido.",
            ", y la radio local lo contó esa misma noche.",
            "y decidieron guardar el alquiler en una cuenta común.",
            "; {name} escribirá al periódico sobre esto.",
            ", y se nos unieron {n} personas nuevas.",
            "y el dueño aceptó arreglar el techo antes de las lluvias.",
            ", aunque la oficina estaba cerrada cuando llegamos.",
            "y lo contaremos en la próxima asamblea.",
            "; el siguiente paso es una carta firmada por cada familia.",
        ],
        "alone": [
            "Nos cortaron el agua {n} días y nadie de la alcaldía vino.",
            "Necesitamos más voluntarios para la cocina el {day}.",
            "{name} explicó la ley de desalojos con palabras sencillas.",
            "Varias familias todavía no conocen sus derechos como inquilinos.",
            "La reunión terminó tarde, pero todos se quedaron a limpiar.",
            "Los volantes están listos en español e inglés.",
            "Los alquileres en {place} subieron otra vez, {n} dólares en promedio.",
            "Traigan sillas, el salón tiene pocas.",
        ],
        "title": [
            "Asamblea de vecinos en {place}",
            "Huelga de alquileres: semana {n}",
            "Cortes de agua en {place}",
            "Informe de la asamblea del {day}",
            "Desalojos en la calle {place}",
            "Lo que aprendimos en el concejo",
        ],
    },
    "hi": {
        "when": [
            "{day} को",
            "पिछले {day} को",
            "आज सुबह",
            "सभा के बाद",
            "नगर निगम की बैठक से पहले",
            "रात की पाली के दौरान",
            "महीने के आख़िर में",
            "दो हफ़्ते पहले",
            "{day} की सुबह",
            "सप्ताहांत में",
            "कल दोपहर",
            "इस साल तीसरी बार",
        ],
        "who": [
            "{place} के {n} परिवारों ने",
            "इमारत नंबर {n} के किरायेदारों ने",
            "{name} और {name2} ने",
            "गोदाम की रात की पाली के मज़दूरों ने",
            "{place} के पड़ोसियों ने",
            "महिला समिति ने",
            "हमारे युवा समूह ने",
            "संगठन के {n} सदस्यों ने",
            "{place} वाले स्कूल के माता-पिता ने",
            "बाज़ार के रेहड़ी वालों ने",
            "अस्पताल के सफ़ाई कर्मचारियों ने",
            "सेवानिवृत्त शिक्षकों और उनके परिवारों ने",
        ],
        "did": [
            "मकान मालिक के वकील से मुलाक़ात की",
            "बैनर लेकर नगर निगम तक जुलूस निकाला",
            "पानी की अर्ज़ी के लिए {n} हस्ताक्षर जुटाए",
            "किराया बढ़ने पर बैठक की",
            "सामुदायिक रसोई की पुताई की",
            "चौथी मंज़िल के हर घर में जाकर बात की",
            "नगर निगम से लिखित जवाब माँगा",
            "बेदख़ल परिवारों के साथ खाना बाँटा",
            "आवास दफ़्तर में शिकायत दर्ज करना सीखा",
            "कारख़ाने के गेट पर पर्चे बाँटे",
            "नई ज़ोनिंग योजना को पंक्ति दर पंक्ति पढ़ा",
            "बच्चों की देखभाल का इंतज़ाम किया ताकि माएँ आ सकें",
        ],
        "then": [
            "और {day} को फिर मिलने का फ़ैसला किया।",
            "; नगर निगम ने {n} दिनों में जवाब देने का वादा किया।",
            ", लेकिन पुलिस ने सबको जाने को कहा।",
            "और किसी को चोट नहीं आई।",
            ", और उसी शाम स्थानीय रेडियो ने इसकी ख़बर दी।",
            "और किराया एक साझा खाते में रखने का फ़ैसला किया।",
            "; {name} इसके बारे में अख़बार को लिखेंगी।",
            ", और {n} नए लोग हमसे जुड़े।",
            "और मकान मालिक बारिश से पहले छत ठीक करने को राज़ी हुआ।",
            ", हालाँकि जब हम पहुँचे तो दफ़्तर बंद था।",
            "और अगली सभा में हम इसकी जानकारी देंगे।",
            "; अगला क़दम हर परिवार के हस्ताक्षर वाला पत्र है।",
        ],
        "alone": [
            "{n} दिनों तक पानी बंद रहा और नगर निगम से कोई नहीं आया।",
            "{day} को रसोई के लिए और स्वयंसेवकों की ज़रूरत है।",
            "{name} ने बेदख़ली का क़ानून आसान शब्दों में समझाया।",
            "कई परिवार अब भी किरायेदार के तौर पर अपने अधिकार नहीं जानते।",
            "बैठक देर से ख़त्म हुई, लेकिन सब सफ़ाई के लिए रुके।",
            "पर्चे हिंदी और मराठी में तैयार हैं।",
            "{place} में किराये फिर बढ़ गए, औसतन {n} रुपये।",
            "कुर्सियाँ साथ लाएँ, हॉल में कम हैं।",
        ],
        "title": [
            "{place} में मोहल्ला सभा",
            "किराया हड़ताल: हफ़्ता {n}",
            "{place} में पानी की कटौती",
            "{day} की सभा की रिपोर्ट",
            "{place} में बेदख़ली",
            "नगर निगम में हमने क्या सीखा",
        ],
    },
    "zu": {
        "when": [
            "NgoMsombuluko",
            "NgoLwesihlanu odlule",
            "Namhlanje ekuseni",
            "Ngemuva komhlangano",
            "Ngaphambi komhlangano kamasipala",
            "Ngesikhathi sokusebenza ebusuku",
            "Ekupheleni kwenyanga",
            "Emasontweni amabili adlule",
            "NgoMgqibelo ekuseni",
            "Ngempelasonto",
            "Izolo ntambama",
            "Okwesithathu kulo nyaka",
        ],
        "who": [
            "imindeni engu-{n} yase{place}",
            "abaqashi besakhiwo {n}",
            "u{name} no{name2}",
            "abasebenzi bebusuku basendlini yokugcina impahla",
            "omakhelwane base{place}",
            "ikomiti labesifazane",
            "iqembu lethu lentsha",
            "amalungu angu-{n} enhlangano",
            "abazali besikole sase{place}",
            "abathengisi basemakethe",
            "abahlanzi basesibhedlela",
            "othisha abathathe umhlalaphansi nemindeni yabo",
        ],
        "did": [
            "bahlangana nommeli womnikazi wendlu",
            "bamasha baya kumasipala bephethe izingqwembe",
            "baqoqa amasiginesha angu-{n} esicelweni samanzi",
            "babe nomhlangano mayelana nokukhuphuka kwerenti",
            "bapenda ikhishi lomphakathi",
            "bavakashela yonke imizi esitezi sesine",
            "bacela umasipala impendulo ebhaliwe",
            "babelana ngokudla nemindeni exoshiwe",
            "bafunda ukufaka isikhalazo ehhovisi lezindlu",
            "basabalalisa amapheshana esangweni lefekthri",
            "bafunda uhlelo olusha lomhlaba umugqa ngomugqa",
            "bahlela ukunakekelwa kwezingane ukuze omama bakwazi ukuza",
        ],
        "then": [
            "futhi bavumelana ukuhlangana futhi ngoMgqibelo.",
            "; umasipala wethembisa ukuphendula ezinsukwini ezingu-{n}.",
            ", kodwa amaphoyisa acela wonke umuntu ukuthi ahambe.",
            "futhi akekho owalimala.",
            ", futhi umsakazo wendawo wakubika ngalobo busuku.",
            "futhi banquma ukugcina irenti ku-akhawunti eyodwa.",
            "; u{name} uzobhalela iphephandaba ngakho.",
            ", futhi abantu abasha abangu-{n} bajoyina.",
            "futhi umnikazi wavuma ukulungisa uphahla ngaphambi kwemvula.",
            ", nakuba ihhovisi lalivaliwe lapho sifika.",
            "futhi sizobika emhlanganweni olandelayo.",
            "; isinyathelo esilandelayo yincwadi esayinwe yimindeni yonke.",
        ],
        "alone": [
            "Amanzi anqanyulwa izinsuku ezingu-{n} futhi akekho owavela kumasipala.",
            "Sidinga amavolontiya engeziwe ekhishini ngeSonto.",
            "U{name} uchaze umthetho wokuxoshwa ngamagama alula.",
            "Imindeni eminingi ayikayazi amalungelo ayo njengabaqashi.",
            "Umhlangano uphele sekwephuzile, kodwa bonke basala behlanza.",
            "Amapheshana aselungile ngesiZulu nangesiNgisi.",
            "Irenti e{place} iphinde yakhuphuka, ngama-randi angu-{n}.",
            "Lethani izihlalo, ihholo linezimbalwa.",
        ],
        "title": [
            "Umhlangano womphakathi e{place}",
            "Isiteleka serenti: isonto {n}",
            "Ukunqamuka kwamanzi e{place}",
            "Umbiko womhlangano",
            "Ukuxoshwa e{place}",
            "Esikufundile kumasipala",
        ],
    },
}

FILL: dict[str, dict[str, list[str]]] = {
    "en": {
        "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        "place": ["Boyle Heights", "Pico-Union", "Echo Park", "Westlake", "Lincoln Heights"],
        "name": ["Maria", "Daniel", "Rosa", "Ana", "Kevin", "Lupe", "James", "Teresa"],
    },
    "es": {
        "day": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
        "place": ["Soyapango", "Mejicanos", "Ilopango", "Apopa", "San Marcos", "Cuscatancingo"],
        "name": ["Luis", "Marta", "Rosa", "José", "Carmen", "Ernesto", "Lucía", "Óscar"],
    },
    "hi": {
        "day": ["सोमवार", "मंगलवार", "बुधवार", "गुरुवार", "शुक्रवार", "शनिवार", "रविवार"],
        "place": ["धारावी", "कुर्ला", "गोवंडी", "मालवणी", "चेंबूर", "मानखुर्द"],
        "name": ["प्रिया", "रवि", "सुनीता", "अनिल", "फ़ातिमा", "मीना", "राहुल", "आशा"],
    },
    "zu": {
        "day": ["Msombuluko", "Lwesibili", "Lwesithathu", "Lwesine", "Lwesihlanu"],
        "place": ["Soweto", "Alexandra", "Tembisa", "Orlando", "Diepsloot", "Khayelitsha"],
        "name": ["Thandiwe", "Sipho", "Nomsa", "Bongani", "Lindiwe", "Themba", "Zanele"],
    },
}

LANGUAGES = tuple(PARTS)
#: Each word of a sentence (but its first) is swapped for another of the language's
#: words this often, so that the parts do not recur whole. Unchanged, 200 reports'
#: text alone shrinks to 0.12 of its size under zstd (level 3), as no prose does;
#: swapped, to 0.29, near prose written by people (the GPL's text: 0.35), and the
#: events' stream to 0.36 (docs/BENCHMARKS.md, "Slow link").
SWAP = 0.5
VOCABULARY = {
    language: sorted(
        {
            w.strip(",;.")
            for group in PARTS[language].values()
            for t in group
            for w in t.split()
            if "{" not in w
        }
        | {w for group in FILL[language].values() for w in group}
    )
    for language in PARTS
}


def _fill(template: str, language: str, rng: random.Random) -> str:
    words = FILL[language]
    name, name2 = rng.sample(words["name"], 2)
    return template.format(
        day=rng.choice(words["day"]),
        place=rng.choice(words["place"]),
        name=name,
        name2=name2,
        n=rng.randint(2, 400),
    )


def _sentence(language: str, rng: random.Random) -> str:
    parts = PARTS[language]
    if rng.random() < 0.25:
        return _swap(_fill(rng.choice(parts["alone"]), language, rng), language, rng)
    when, who, did, then = (rng.choice(parts[k]) for k in ("when", "who", "did", "then"))
    joiner = "" if then[0] in ",;" else " "
    text = f"{when} {who} {did}{joiner}{then}"
    return _swap(_fill(text[0].upper() + text[1:], language, rng), language, rng)


def _swap(sentence: str, language: str, rng: random.Random) -> str:
    words = sentence.split(" ")
    vocabulary = VOCABULARY[language]
    for k in range(1, len(words)):
        if "{" not in words[k] and rng.random() < SWAP:
            words[k] = rng.choice(vocabulary)
    return " ".join(words)


def report_text(i: int, size: int = 900) -> tuple[str, str]:
    """The ``i``-th report's title and body, in the language of collective ``i % 4``,
    together about ``size`` bytes of UTF-8 (the body is whole sentences, cut at a
    character boundary), so that reports in every script weigh the same on the wire:
    with ``size`` 900, an event of about 1.15 KB."""
    language = LANGUAGES[i % len(LANGUAGES)]
    rng = random.Random(i)
    title = _fill(rng.choice(PARTS[language]["title"]), language, rng)
    room = max(0, size - len(title.encode()))
    sentences: list[str] = []
    length = 0
    while length < room:
        sentence = _sentence(language, rng)
        sentences.append(sentence)
        length += len(sentence.encode()) + 1
    body = " ".join(sentences).encode()[:room].decode("utf-8", "ignore")
    return title, body.rstrip()
