"""Word lists and templates of the synthetic demo reports: data, kept apart from the generator's logic."""

from __future__ import annotations


def _lines(block: str) -> tuple[str, ...]:
    """One entry per non-empty line, so that long vocabularies stay readable and diff well."""
    return tuple(line.strip() for line in block.strip().splitlines() if line.strip())


def _table(block: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(cell.strip() for cell in line.split("|")) for line in _lines(block))


# name | indication (formal) | indication (lay, fits "for my ...") | usual strengths
_DRUGS = _table("""
atorvastatin | hypercholesterolaemia | high cholesterol | 10 mg, 20 mg, 40 mg, 80 mg
simvastatin | mixed hyperlipidaemia | cholesterol | 20 mg, 40 mg
metformin | type 2 diabetes mellitus | type 2 diabetes | 500 mg, 850 mg, 1000 mg
lisinopril | essential hypertension | high blood pressure | 5 mg, 10 mg, 20 mg
amlodipine | hypertension | blood pressure | 5 mg, 10 mg
losartan | diabetic nephropathy | blood pressure | 25 mg, 50 mg, 100 mg
metoprolol | atrial fibrillation | afib | 25 mg, 50 mg, 100 mg
omeprazole | gastro-oesophageal reflux disease | acid reflux | 20 mg, 40 mg
pantoprazole | erosive oesophagitis | heartburn | 20 mg, 40 mg
levothyroxine | hypothyroidism | underactive thyroid | 25 mcg, 50 mcg, 75 mcg, 100 mcg
warfarin | atrial fibrillation | afib | 3 mg, 5 mg
apixaban | deep vein thrombosis | blood clot | 2.5 mg, 5 mg
clopidogrel | coronary artery disease | heart | 75 mg
methotrexate | rheumatoid arthritis | rheumatoid arthritis | 7.5 mg weekly, 15 mg weekly
ibuprofen | osteoarthritis of the knee | back pain | 200 mg, 400 mg, 600 mg
naproxen | ankylosing spondylitis | knee pain | 250 mg, 500 mg
amoxicillin | community-acquired pneumonia | chest infection | 500 mg, 875 mg
azithromycin | acute bacterial sinusitis | sinus infection | 250 mg, 500 mg
ciprofloxacin | complicated urinary tract infection | uti | 250 mg, 500 mg
doxycycline | acne vulgaris | acne | 100 mg
sertraline | major depressive disorder | depression | 50 mg, 100 mg, 150 mg
escitalopram | generalised anxiety disorder | anxiety | 5 mg, 10 mg, 20 mg
fluoxetine | major depressive disorder | depression | 20 mg, 40 mg
venlafaxine | treatment-resistant depression | depression | 75 mg, 150 mg
gabapentin | post-herpetic neuralgia | nerve pain | 300 mg, 600 mg
pregabalin | fibromyalgia | fibro | 75 mg, 150 mg
prednisolone | acute asthma exacerbation | asthma | 5 mg, 30 mg, 40 mg
montelukast | persistent asthma | asthma | 10 mg
allopurinol | chronic gout | gout | 100 mg, 300 mg
tramadol | chronic low back pain | back pain | 50 mg, 100 mg
quetiapine | bipolar disorder | bipolar | 25 mg, 100 mg, 300 mg
lamotrigine | focal epilepsy | epilepsy | 25 mg, 100 mg, 200 mg
amiodarone | ventricular tachycardia | heart rhythm | 200 mg
isotretinoin | severe nodular acne | acne | 20 mg, 40 mg
""")

# lay wording | clinical wording
_SYMPTOMS = _table("""
nausea | persistent nausea
itchy rashes | maculopapular rash
dizzy spells | dizziness
headaches | severe headache
muscle aches | myalgia
stomach cramps | abdominal pain
diarrhea | diarrhoea
vomiting | recurrent vomiting
insomnia | insomnia
constant tiredness | fatigue
coughing fits | persistent dry cough
swollen ankles | peripheral oedema
hair loss | alopecia
itching | generalised pruritus
hives | urticaria
heart palpitations | palpitations
blurry vision | blurred vision
shaky hands | tremor
weight gain | weight gain
low mood | depressed mood
panic attacks | anxiety
brain fog | cognitive impairment
ringing ears | tinnitus
joint pain | arthralgia
swollen lips | angioedema
yellow eyes | jaundice
liver problems | hepatotoxicity
weird liver results | elevated transaminases
bleeding gums | gingival bleeding
nosebleeds | epistaxis
bruising | spontaneous bruising
low sodium | hyponatraemia
high potassium | hyperkalaemia
low sugars | hypoglycaemia
irregular heartbeat | QT prolongation
fainting | syncope
bad sunburns | photosensitivity
mouth ulcers | oral ulceration
achilles pain | Achilles tendinopathy
pins and needles | paraesthesia
constipation | constipation
no sex drive | decreased libido
night sweats | night sweats
dark pee and weak muscles | rhabdomyolysis
low white count | neutropenia
peeling skin | Stevens-Johnson syndrome
""")

# Templates: {drug} names the record's product; a template without {drug} mentions no product.
_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "social_media": {
        "positive": _lines("""
            been on {drug} {dur} and the {sym} started {timing}
            {drug} is giving me {sym}, started {timing}
            anyone else get {sym} from {drug}?? mine kicked in {timing}
            pretty sure {drug} is causing my {sym}. it started {timing} and nothing else changed
            doc upped my {drug} to {dose} and ever since the dose went up i've had {sym}
            tbh the {sym} on {drug} is brutal, it started {timing}. calling my gp {day}
            my {relative} started {drug} for {pron} {ind_lay} and got {sym} {timing}. stopped it and it cleared up
            had to stop {drug} bc of the {sym}, came on {timing}
            {sym} and {sym2} {timing} on {drug}. is this normal??
            week {k} on {drug}: {sym} every single day since i started it
            since switching to the generic {drug} i've had {sym} {when}, never had it on the brand
            went back on {drug} after a break and the {sym} came straight back within {n} days
        """),
        "negation": _lines("""
            {k} weeks on {drug} and no side effects so far
            started {drug} {ago}, honestly no {sym} or anything like ppl warned me about
            was scared of getting {sym} on {drug} after reading reviews but nothing, zero issues tbh
            {drug} update: no {sym}, no {sym2}, nothing. idk why everyone was so worried
            been taking {drug} {dur} without any problems at all
        """),
        "hedge": _lines("""
            had {sym} today, probably from {cause} tbh, not the {drug}
            got {sym} this week but pretty sure it's {cause}. been on {drug} for years no issues
            idk if the {sym} is from {drug} or from {cause}, doc thinks it's prob the second one
            woke up with {sym} but i'd had {cause} so not blaming the {drug}
            my {sym} started way before i was on {drug} so it's not that lol
        """),
        "indication": _lines("""
            just started {drug} for my {ind_lay}, fingers crossed
            gp put me on {drug} for my {ind_lay}. any tips for the first week?
            my {ind_lay} has been so bad lately, starting {drug} {day}
            {ind_lay} flaring again and i'm so tired of it. at least the {drug} script is sorted
        """),
        "product": _lines("""
            why is {drug} {price} at {pharmacy} now?? insane
            {pharmacy} gave me {drug} in totally different packaging this month, same stuff right?
            can i take {drug} at night instead of the morning? leaflet is so confusing
            ugh {drug} refill delayed again, {pharmacy} is useless
            does anyone split their {drug} {dose} tablets or is that a bad idea
            insurance stopped covering {drug}, anyone know a cheaper option?
        """),
        "efficacy": _lines("""
            {drug} is honestly working great for my {ind_lay}
            {k} months on {drug} and my {ind_lay} is finally under control
            not sure {drug} is doing anything for my {ind_lay} yet tbh
        """),
        "chatter": _lines("""
            same here, hang in there
            sending hugs, it does get easier
            has anyone tried {lifestyle} for {ind_lay}?
            mods pls pin the pharmacy thread again
            this sub is the only place that gets it tbh
            following bc same situation, {ind_lay} for {k} years now
            appointment with my gp {day}, wish me luck
            {sym} is the worst part of {ind_lay} honestly
        """),
    },
    "call_centre": {
        "positive": _lines("""
            Caller reports {sym} {timing_of} {drug} {dose}.
            Pt states {sym} began {timing_of} {drug}.
            HCP called re: pt on {drug} {dose} who developed {sym_c} {timing}.
            Consumer c/o {sym} since {drug} dose increased to {dose}.
            Pt's {relative} reports pt had {sym} {n} days after starting {drug}. Pt {outcome}.
            Pharmacist reports pt experienced {sym_c} following initiation of {drug}.
            Caller states {sym} and {sym2} after first dose of {drug} {dose}. Advised to see GP.
            F/u call: pt confirms {sym} started {timing} on {drug}, {outcome}.
            Pt reports {sym} w/ each dose of {drug}, onset {timing}. Batch {batch}.
            Pt stopped {drug} d/t {sym} which began {timing}; sx resolved after stopping.
            Nurse reports pt admitted w/ {sym_c} {timing}, on {drug} {dose}; treating team suspects {drug}.
        """),
        "negation": _lines("""
            Pt on {drug} {dose} x {k}/12. Denies {sym}, {sym2}. Call re: {question}.
            Caller confirms no AE on {drug}; enquiry re: {question}.
            HCP called re: {drug} dosing in renal impairment. No adverse event reported.
            Pt tolerating {drug} well, denies any side effects. Call re: {question}.
            Caller asked if {sym} is a known SE of {drug}; pt has not experienced it.
        """),
        "hedge": _lines("""
            Pt reports {sym} but attributes to {cause}; caller does not feel related to {drug}.
            Caller mentions {sym} that started before {drug} was prescribed; predates therapy.
            Pt had {sym} during {cause}, resolved; continues {drug} unchanged, HCP suspects no causal link.
        """),
        "indication": _lines("""
            Pt newly started on {drug} for {ind}. Calling for info on {question}.
            HCP enquiry: switching pt w/ {ind} from {drug2} to {drug}, asks re: {question}.
        """),
        "product": _lines("""
            Caller c/o price increase of {drug} at {pharmacy}. Ref'd to pricing team.
            Product complaint: {drug} {dose} blister pack damaged on receipt, batch {batch}. No injury reported.
            Pt asks if {drug} can be taken with {food}. Info provided.
            Refill request for {drug} {dose}; caller advised to contact prescriber.
            Caller reports {drug} {dose} tablets look different from last pack (generic switch). No sx reported.
            Enquiry re: missed dose of {drug}. SmPC guidance read to caller.
        """),
        "efficacy": _lines("""
            Pt states {drug} working well for {ind}; no concerns raised.
            Caller feels {drug} less effective since switch to generic; no AE described.
        """),
        "chatter": _lines("""
            Call disconnected before details obtained. Callback attempted x{k}.
            Case closed, no further info available. Ref {ref}.
            Med info request forwarded to MSL, ref {ref}.
            Voicemail left for caller re: follow-up, ref {ref}.
            Caller wished to remain anonymous; no product named. Ref {ref}.
            Pt requests patient leaflet in large print. Sent by post, ref {ref}.
        """),
    },
    "literature": {
        "positive": _lines("""
            {a_age} {sex} developed {sym_c} {timing}.
            We report a case of {drug}-induced {sym_c} in {a_age} {sex} with {ind}.
            {timing}, the patient presented with {sym_c}, which resolved after withdrawal of the drug.
            The temporal relationship and positive dechallenge suggest that {drug} caused the {sym_c}.
            {sym_c} occurred {timing} and recurred on rechallenge.
            {a_age} {sex} receiving {drug} for {ind} was admitted with {sym_c} {n} days after the dose was increased to {dose}.
            The Naranjo score was {naranjo}, indicating a probable association between {drug} and the {sym_c} that began {n} days after initiation.
            Laboratory tests revealed {sym_c} {timing}, which was attributed to the drug.
            Shortly after dose escalation of {drug}, {a_age} {sex} experienced {sym_c}.
            {sym_c} developed {timing} and was considered a probable adverse drug reaction.
            We describe {a_age} {sex} in whom {sym_c} emerged {timing}.
        """),
        "negation": _lines("""
            No adverse reactions attributable to {drug} were observed during {k} weeks of follow-up.
            The patient tolerated {drug} {dose} without any adverse reaction.
            {pron} denied {sym_c} at baseline and at the {k}-week visit.
            There was no evidence of {sym_c} after {k} months of treatment with {drug}.
        """),
        "hedge": _lines("""
            {sym_c} was considered more likely related to the underlying {ind} than to {drug}.
            Although {sym_c} was noted, it preceded initiation of {drug} and was not considered drug-related.
            A causal role of {drug} in the {sym_c} could not be established, as the patient had {cause_c}.
            Concurrent {sym_c} was attributed to {cause_c} rather than to {drug}.
        """),
        "indication": _lines("""
            {a_age} {sex} with {ind} was started on {drug} {dose}.
            Patients with {ind} were randomised to {drug} or placebo for {k} weeks.
        """),
        "efficacy": _lines("""
            {drug} produced a significant improvement in {ind} after {k} weeks.
            Treatment with {drug} achieved remission in {pct} percent of patients with {ind}.
        """),
        "background": _lines("""
            {drug} is widely prescribed for {ind}.
            {drug} is generally well tolerated, and serious reactions are rarely reported.
            Further studies are needed to characterise the long-term safety profile of {drug}.
            The pharmacokinetics of {drug} are altered in patients with hepatic impairment.
            {ind} affects an estimated {pct} percent of adults worldwide.
            We retrospectively reviewed {k} records from {year}.
            Informed consent was obtained from the patient for publication of this case.
            Physical examination on admission was unremarkable apart from {finding}.
            Serum {lab} was within normal limits on day {n}.
            Data were analysed using {stats}.
            The study was approved by the institutional review board (protocol {ref}).
        """),
    },
}

_TIMINGS = {
    "social_media": _lines("""
        like {n} days after starting it
        a day or two after my first dose
        the week i started it
        within an hour of each dose
        right after they upped my dose
        about {n} weeks in
        the morning after my first pill
        {n} days after i started
    """),
    "call_centre": _lines("""
        {n}/7 after starting
        since dose increase
        approx {n} hrs post dose
        on wk {n} of tx
        after first dose
        {n} days after commencing
    """),
    "literature": _lines("""
        {n} days after initiation of {drug}
        within 48 hours of the first dose of {drug}
        shortly after the dose of {drug} was increased to {dose}
        {n} weeks after commencing {drug}
        on day {n} of {drug} therapy
        two days after starting {drug}
    """),
}
_CC_TIMING_OF = _lines("""
    {n}/7 after starting
    approx {n} hrs after first dose of
    since dose increase of
    on wk {n} of tx with
    shortly after commencing
    after first dose of
""")

_FILLERS: dict[str, tuple[str, ...]] = {
    "dur": _lines("for {n} weeks\nfor a month\nsince {month}\nfor about {n} months\nfor like {n} days"),
    "ago": _lines("{n} weeks ago\nlast month\nin {month}\n{n} days ago"),
    "when": _lines("every morning\nnonstop\nafter every dose\non and off\nall week"),
    "day": _lines("tomorrow\non monday\nfirst thing tmrw\nasap\nnext week"),
    "cause": _lines("""
        the heat\nstress at work\na cold\nnot sleeping\ntoo much coffee\nthe flu going round
        a long shift\ndehydration\nhay fever\na night out
    """),
    "cause_c": _lines("concurrent influenza\na viral gastroenteritis\nsevere dehydration\nrecent surgery"),
    "pharmacy": _lines("boots\ncvs\nwalgreens\nthe local pharmacy\nlloyds\nsuperdrug\nrite aid"),
    "price": _lines("${n}5\n${n}9.99\ngbp {n}.50\nlike {n}0 bucks"),
    "question": _lines("""
        missed dose\nstorage temperature\ntaking with food\ninteraction with {drug2}\ngeneric substitution
        travel with medication\nuse in pregnancy\nalcohol use\ntablet splitting\nexpiry date
    """),
    "food": _lines("grapefruit juice\nmilk\nalcohol\nantacids\nst john's wort\ncoffee"),
    "outcome": _lines("recovered\nrecovering\nnot yet recovered\nhospitalised overnight\noutcome unknown"),
    "lifestyle": _lines("yoga\ncutting out sugar\nacupuncture\nan elimination diet\ncold showers\nwalking daily"),
    "finding": _lines("mild pallor\nbilateral ankle swelling\na low-grade fever\nmild tachycardia"),
    "lab": _lines("creatinine\npotassium\nalbumin\nbilirubin\nC-reactive protein\nTSH"),
    "stats": _lines("logistic regression\nthe Kaplan-Meier method\nmixed-effects models\nWilcoxon tests"),
    "month": _lines("january\nfebruary\nmarch\napril\nmay\njune"),
}
_SM_PREFIXES = _lines("ok so \nnot gonna lie \nrant: \nupdate - \nquick q, \nlong story short ")
_SM_SUFFIXES = _lines("""
    ugh\nanyone else??\nso done with this\nidk what to do\nfml\nlol\nsend help\nany advice?\nsmh
    wtf\nnot fun\nrip my week\nhelp\nimo\n:(\nsmh tbh
""")
_SM_SEPARATORS = (" ", ". ", " - ", "... ", ", ")
_SM_TAGS = _lines("#sideeffects\n#spoonie\n#chronicillness\n#mentalhealth\n#t2d\n#pharmacy\n#nhs\n#meds")
_CC_PREFIXES = _lines("Inbound call.\nCall ref {ref}:\nAgent {k}:\nWeb chat transcript:")
_CC_ACTIONS = _lines("""
    Advised to contact GP.\nFollow-up requested.\nBatch no. requested.\nReferred to HCP.
    Info provided.\nNo further action.\nCaller satisfied.
""")
_CC_AE_ACTIONS = _lines("AE form completed.\nCase escalated to PV.\nPt advised to stop and seek medical advice.")
_RELATIVES = (
    ("mum", "her"),
    ("dad", "his"),
    ("husband", "his"),
    ("wife", "her"),
    ("nan", "her"),
    ("son", "his"),
)
_SEXES = (("woman", "She"), ("man", "He"))
