#!/usr/bin/env python3
"""Generates deploy/demo/people.yaml: the Acme demo company.

The named people below (executives, team leads, app owners and the personas the tests,
policies and README rely on) are written out by hand; each team is then filled with
deterministically generated staff so the org chart is a proper tree with a realistic size.

    python3 deploy/demo/gen/people.py > deploy/demo/people.yaml

The output is committed; edit this file and regenerate rather than editing the YAML.
"""
import hashlib
import random

D = "@acme.example"
LOC = {
    "SF": ("San Francisco, US", "America/Los_Angeles"),
    "NYC": ("New York, US", "America/New_York"),
    "AUS": ("Austin, US", "America/Chicago"),
    "TOR": ("Toronto, CA", "America/Toronto"),
    "LON": ("London, UK", "Europe/London"),
    "BER": ("Berlin, DE", "Europe/Berlin"),
    "LIS": ("Lisbon, PT (remote)", "Europe/Lisbon"),
    "BLR": ("Bengaluru, IN", "Asia/Kolkata"),
    "SIN": ("Singapore, SG", "Asia/Singapore"),
    "SYD": ("Sydney, AU", "Australia/Sydney"),
}

people = []  # dicts in output order
by_email = {}


def add(handle, name, dept, title, manager, groups, loc, etype="employee", status="active", slack=None):
    email = handle + D
    assert email not in by_email, email
    p = {
        "email": email, "name": name, "department": dept, "title": title,
        "manager": (manager + D) if manager else None, "groups": groups,
        "location": LOC[loc][0], "time_zone": LOC[loc][1],
        "employment_type": etype, "status": status, "slack": slack,
    }
    people.append(p)
    by_email[email] = p
    return p


# --- Named people: executives, leads, app owners, personas -------------------------------
# (handle, name, department, title, manager, groups, location, extra)
named = [
    ("rachel.thompson", "Rachel Thompson", "Executive", "Chief Executive Officer", None, ["exec"], "SF", {}),
    ("lucy.park", "Lucy Park", "Executive", "Executive Assistant to the CEO", "rachel.thompson", ["exec"], "SF", {}),
    ("olivia.chen", "Olivia Chen", "Finance", "Chief Financial Officer", "rachel.thompson", ["exec", "finance", "sox-controllers"], "SF", {"slack": "U0OLIVIA"}),
    ("daniel.okafor", "Daniel Okafor", "Engineering", "Chief Technology Officer", "rachel.thompson", ["exec", "engineering", "cab"], "SF", {}),
    ("grace.liu", "Grace Liu", "Security", "Chief Information Security Officer", "rachel.thompson", ["exec", "security", "cab"], "NYC", {}),
    ("james.whitaker", "James Whitaker", "Sales", "Chief Revenue Officer", "rachel.thompson", ["exec", "sales"], "NYC", {}),
    ("nina.alvarez", "Nina Alvarez", "Marketing", "Chief Marketing Officer", "rachel.thompson", ["exec", "marketing"], "NYC", {}),
    ("hannah.berg", "Hannah Berg", "People", "Chief People Officer", "rachel.thompson", ["exec", "people"], "SF", {}),
    ("victor.osei", "Victor Osei", "Legal", "General Counsel", "rachel.thompson", ["exec", "legal"], "NYC", {}),
    ("maya.rosen", "Maya Rosen", "Product", "Chief Product Officer", "rachel.thompson", ["exec", "product"], "SF", {}),
    ("ethan.wright", "Ethan Wright", "Executive", "Chief Operating Officer", "rachel.thompson", ["exec"], "AUS", {}),
    ("tom.fischer", "Tom Fischer", "Support", "VP Customer Support", "ethan.wright", ["support"], "AUS", {}),
    # Engineering
    ("michael.brandt", "Michael Brandt", "Engineering", "VP Engineering", "daniel.okafor", ["engineering", "cab"], "SF", {}),
    ("priya.nair", "Priya Nair", "Engineering", "Engineering Manager", "michael.brandt", ["engineering", "backend", "oncall"], "SF", {"slack": "U0PRIYA"}),
    ("sam.patel", "Sam Patel", "Engineering", "Software Engineer", "priya.nair", ["engineering", "backend"], "SF", {"slack": "U0SAM"}),
    ("jo.silva", "Jo Silva", "Engineering", "Contractor", "priya.nair", ["engineering", "backend", "contractors"], "LIS", {"etype": "contractor", "slack": "U0JO"}),
    ("ben.carter", "Ben Carter", "Engineering", "Staff Software Engineer, Payments", "priya.nair", ["engineering", "backend", "payments-team", "oncall"], "SF", {}),
    ("kevin.zhao", "Kevin Zhao", "Engineering", "Engineering Manager, Frontend", "michael.brandt", ["engineering", "frontend"], "TOR", {}),
    ("aisha.mensah", "Aisha Mensah", "Engineering", "Engineering Manager, Platform", "michael.brandt", ["engineering", "platform", "oncall", "cab"], "LON", {}),
    ("ravi.shah", "Ravi Shah", "Engineering", "Staff Platform Engineer", "aisha.mensah", ["engineering", "platform", "oncall", "cab"], "LON", {}),
    ("tomasz.nowak", "Tomasz Nowak", "Engineering", "Database Reliability Engineer", "aisha.mensah", ["engineering", "platform", "dba", "oncall"], "BER", {}),
    ("lena.hoffmann", "Lena Hoffmann", "Engineering", "Senior Developer Experience Engineer", "aisha.mensah", ["engineering", "platform", "devex"], "BER", {}),
    ("carlos.mendez", "Carlos Mendez", "Engineering", "SRE Manager", "michael.brandt", ["engineering", "sre", "oncall", "cab"], "AUS", {}),
    ("elena.petrova", "Elena Petrova", "Engineering", "Senior Site Reliability Engineer", "carlos.mendez", ["engineering", "sre", "oncall"], "BER", {}),
    ("yuki.tanaka", "Yuki Tanaka", "Engineering", "Engineering Manager, Mobile", "michael.brandt", ["engineering", "mobile"], "SIN", {}),
    ("omar.haddad", "Omar Haddad", "Engineering", "Engineering Manager, Checkout", "michael.brandt", ["engineering", "backend", "checkout-team", "oncall"], "NYC", {}),
    # Data
    ("sofia.martins", "Sofia Martins", "Data", "Head of Data", "daniel.okafor", ["data"], "LIS", {}),
    ("wei.zhang", "Wei Zhang", "Data", "Data Engineering Manager", "sofia.martins", ["data", "data-platform"], "SF", {}),
    ("alex.morgan", "Alex Morgan", "Data", "Data Engineer", "wei.zhang", ["data"], "SF", {"slack": "U0ALEX"}),
    ("fatima.khan", "Fatima Khan", "Data", "Analytics Manager", "sofia.martins", ["data", "analytics"], "LON", {}),
    ("noah.goldberg", "Noah Goldberg", "Data", "Product Analytics Lead", "fatima.khan", ["data", "analytics", "product-analytics"], "NYC", {}),
    ("arjun.menon", "Arjun Menon", "Data", "Senior Data Scientist", "sofia.martins", ["data", "data-science"], "BLR", {}),
    # Security
    ("owen.gallagher", "Owen Gallagher", "Security", "Security Engineering Manager", "grace.liu", ["security", "oncall", "cab"], "NYC", {}),
    ("lee.kim", "Lee Kim", "Security", "Security Engineer", "owen.gallagher", ["security"], "SF", {"slack": "U0LEE"}),
    ("mia.schultz", "Mia Schultz", "Security", "Application Security Engineer", "owen.gallagher", ["security", "appsec"], "BER", {}),
    ("hassan.ali", "Hassan Ali", "Security", "SOC Lead", "grace.liu", ["security", "soc", "oncall"], "LON", {}),
    ("isabel.duarte", "Isabel Duarte", "Security", "GRC Manager", "grace.liu", ["security", "grc", "sox-controllers"], "NYC", {}),
    # IT
    ("frank.murphy", "Frank Murphy", "IT", "Head of IT", "ethan.wright", ["it", "it-admins", "cab"], "AUS", {}),
    ("chloe.dubois", "Chloe Dubois", "IT", "Identity Engineer", "frank.murphy", ["it", "it-admins"], "TOR", {}),
    ("mark.ellis", "Mark Ellis", "IT", "Endpoint Engineer", "frank.murphy", ["it", "it-admins"], "AUS", {}),
    ("jamal.reed", "Jamal Reed", "IT", "IT Support Specialist", "frank.murphy", ["it"], "NYC", {}),
    ("sarah.oconnor", "Sarah O'Connor", "IT", "Collaboration Systems Administrator", "frank.murphy", ["it", "it-admins"], "LON", {}),
    # Finance
    ("marco.bianchi", "Marco Bianchi", "Finance", "Finance Manager", "olivia.chen", ["finance", "fpa"], "SF", {"slack": "U0MARCO"}),
    ("dana.reyes", "Dana Reyes", "Finance", "Financial Analyst", "marco.bianchi", ["finance"], "SF", {"slack": "U0DANA"}),
    ("laura.jensen", "Laura Jensen", "Finance", "Controller", "olivia.chen", ["finance", "accounting", "sox-controllers"], "SF", {}),
    ("peter.novak", "Peter Novak", "Finance", "Billing Operations Manager", "laura.jensen", ["finance", "billing"], "TOR", {}),
    ("grace.owusu", "Grace Owusu", "Finance", "Accounts Payable Manager", "laura.jensen", ["finance", "accounting", "accounts-payable"], "AUS", {}),
    ("ruth.adler", "Ruth Adler", "Finance", "Treasury Manager", "olivia.chen", ["finance", "treasury"], "NYC", {}),
    # Sales
    ("kate.sullivan", "Kate Sullivan", "Sales", "Sales Operations Manager", "james.whitaker", ["sales", "sales-ops"], "NYC", {}),
    ("brian.kowalski", "Brian Kowalski", "Sales", "Regional Sales Director, Americas", "james.whitaker", ["sales"], "NYC", {}),
    ("chiara.russo", "Chiara Russo", "Sales", "Regional Sales Director, EMEA", "james.whitaker", ["sales"], "LON", {}),
    ("daniel.lim", "Daniel Lim", "Sales", "Regional Sales Director, APAC", "james.whitaker", ["sales"], "SIN", {}),
    # Support
    ("diego.ramirez", "Diego Ramirez", "Support", "Support Operations Manager", "tom.fischer", ["support", "support-ops"], "AUS", {}),
    ("amelia.watson", "Amelia Watson", "Support", "Support Team Lead, Americas", "tom.fischer", ["support"], "AUS", {}),
    ("raj.iyer", "Raj Iyer", "Support", "Support Team Lead, APAC", "tom.fischer", ["support"], "BLR", {}),
    # Marketing
    ("emma.clarke", "Emma Clarke", "Marketing", "Marketing Operations Manager", "nina.alvarez", ["marketing", "marketing-ops"], "LON", {}),
    ("lucas.bernard", "Lucas Bernard", "Marketing", "Growth Marketing Manager", "nina.alvarez", ["marketing", "growth"], "NYC", {}),
    # Product & Design
    ("isla.morgan", "Isla Morgan", "Design", "Head of Design", "maya.rosen", ["design"], "LON", {}),
    ("jonas.berg", "Jonas Berg", "Product", "Group Product Manager", "maya.rosen", ["product"], "SF", {}),
    # People
    ("rita.gomes", "Rita Gomes", "People", "People Operations Manager", "hannah.berg", ["people", "people-ops"], "LIS", {}),
    ("paul.martin", "Paul Martin", "People", "Payroll Manager", "hannah.berg", ["people", "payroll"], "AUS", {}),
    ("zoe.adams", "Zoe Adams", "People", "Talent Acquisition Lead", "hannah.berg", ["people", "recruiting"], "NYC", {}),
    # Legal
    ("nora.feld", "Nora Feld", "Legal", "Privacy Counsel", "victor.osei", ["legal", "privacy"], "BER", {}),
    ("henry.cole", "Henry Cole", "Legal", "Commercial Counsel", "victor.osei", ["legal"], "NYC", {}),
]
for h, n, dept, title, mgr, groups, loc, extra in named:
    add(h, n, dept, title, mgr, groups, loc, extra.get("etype", "employee"), slack=extra.get("slack"))

# --- Generated staff ------------------------------------------------------------------------
FIRST = """Aaron Abigail Adrian Aiden Alina Amara Ana Andre Anya Ari Beatriz Bianca Caleb Camila
Chen Clara Cole Dario Diana Dmitri Eli Elif Emil Esther Farah Felix Gabriel Gemma Hugo Ibrahim
Ida Ines Ivan Jade Jasper Javier Joel Julia Kai Kamal Karin Kenji Kiran Lars Leila Leo Liam Lina
Luca Lucia Malik Marta Mateo Mei Miguel Mila Naomi Nikhil Nils Noor Olga Oscar Pablo Paula Quinn
Rafael Rana Remy Rosa Ruben Sakura Samir Sara Sean Selin Sven Tara Theo Tomas Uma Valentina
Vera Wen Xavier Yara Yusuf Zara Zeynep""".split()
LAST = """Abbott Acosta Ahmed Andersen Arnaud Bakker Banerjee Barros Becker Bell Bose Brooks Castro
Chandra Costa Cruz Dahl Das Dawson Diaz Eriksen Evans Fernandes Ford Garcia Gupta Hall Hansen
Hayes Horvat Hughes Ibrahim Ito Jaramillo Joshi Kaur Keller Klein Kovacs Lambert Larsen Lopez
Lund Maier Marsh Meyer Moreau Murray Nakamura Navarro Nguyen Olsen Ortiz Park Perez Quinn Rao
Reyes Rossi Santos Sato Schmidt Singh Sousa Stone Suzuki Torres Vargas Vogel Walsh Weber Young
Yilmaz Ziegler""".split()
rng = random.Random(20261203)
used_names = {p["name"] for p in people}


def fresh_name():
    while True:
        n = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        h = n.lower().replace(" ", ".")
        if n not in used_names and h + D not in by_email:
            used_names.add(n)
            return h, n


# (manager, department, groups, locations, [(title, count, extra groups, employment type)])
teams = [
    ("priya.nair", "Engineering", ["engineering", "backend"], ["SF", "AUS", "TOR"], [
        ("Senior Software Engineer", 2, ["payments-team", "oncall"], "employee"),
        ("Software Engineer", 3, ["payments-team"], "employee"),
        ("Software Engineering Intern", 1, ["interns"], "intern")]),
    ("omar.haddad", "Engineering", ["engineering", "backend", "checkout-team"], ["NYC", "TOR"], [
        ("Senior Software Engineer", 2, ["oncall"], "employee"),
        ("Software Engineer", 3, [], "employee"),
        ("Software Engineer", 1, ["contractors"], "contractor")]),
    ("kevin.zhao", "Engineering", ["engineering", "frontend"], ["TOR", "NYC", "LIS"], [
        ("Senior Frontend Engineer", 2, [], "employee"),
        ("Frontend Engineer", 4, [], "employee"),
        ("Software Engineering Intern", 1, ["interns"], "intern")]),
    ("aisha.mensah", "Engineering", ["engineering", "platform"], ["LON", "BER"], [
        ("Platform Engineer", 3, ["oncall"], "employee"),
        ("Senior Platform Engineer", 1, ["oncall"], "employee")]),
    ("carlos.mendez", "Engineering", ["engineering", "sre", "oncall"], ["AUS", "BER", "SYD"], [
        ("Site Reliability Engineer", 4, [], "employee")]),
    ("yuki.tanaka", "Engineering", ["engineering", "mobile"], ["SIN", "SYD"], [
        ("iOS Engineer", 2, [], "employee"), ("Android Engineer", 2, [], "employee"),
        ("QA Engineer", 1, ["contractors"], "contractor")]),
    ("wei.zhang", "Data", ["data", "data-platform"], ["SF", "LIS"], [
        ("Data Engineer", 3, [], "employee"), ("Senior Data Engineer", 1, ["oncall"], "employee")]),
    ("fatima.khan", "Data", ["data", "analytics"], ["LON", "NYC"], [
        ("Data Analyst", 3, [], "employee"), ("Analytics Engineer", 2, [], "employee")]),
    ("arjun.menon", "Data", ["data", "data-science"], ["BLR"], [
        ("Data Scientist", 2, [], "employee"), ("Machine Learning Engineer", 1, [], "employee")]),
    ("owen.gallagher", "Security", ["security"], ["NYC", "BER"], [
        ("Security Engineer", 2, [], "employee")]),
    ("hassan.ali", "Security", ["security", "soc"], ["LON", "SIN"], [
        ("Security Analyst", 3, [], "employee")]),
    ("isabel.duarte", "Security", ["security", "grc"], ["NYC"], [
        ("Compliance Analyst", 1, [], "employee")]),
    ("frank.murphy", "IT", ["it"], ["AUS", "LON", "SIN"], [
        ("IT Support Specialist", 2, [], "employee"), ("IT Support Intern", 1, ["interns"], "intern")]),
    ("marco.bianchi", "Finance", ["finance", "fpa"], ["SF", "NYC"], [
        ("Senior Financial Analyst", 1, [], "employee"), ("Financial Analyst", 2, [], "employee")]),
    ("laura.jensen", "Finance", ["finance", "accounting"], ["SF", "AUS"], [
        ("Senior Accountant", 2, [], "employee"), ("Revenue Accountant", 1, [], "employee")]),
    ("grace.owusu", "Finance", ["finance", "accounting", "accounts-payable"], ["AUS"], [
        ("Accounts Payable Specialist", 3, [], "employee")]),
    ("peter.novak", "Finance", ["finance", "billing"], ["TOR"], [
        ("Billing Specialist", 2, [], "employee")]),
    ("kate.sullivan", "Sales", ["sales", "sales-ops"], ["NYC"], [
        ("Sales Operations Analyst", 2, [], "employee")]),
    ("brian.kowalski", "Sales", ["sales", "sales-americas"], ["NYC", "AUS", "TOR"], [
        ("Account Executive", 5, [], "employee"), ("Sales Development Representative", 3, [], "employee"),
        ("Solutions Engineer", 2, [], "employee")]),
    ("chiara.russo", "Sales", ["sales", "sales-emea"], ["LON", "BER"], [
        ("Account Executive", 3, [], "employee"), ("Sales Development Representative", 2, [], "employee")]),
    ("daniel.lim", "Sales", ["sales", "sales-apac"], ["SIN", "SYD"], [
        ("Account Executive", 2, [], "employee")]),
    ("diego.ramirez", "Support", ["support", "support-ops"], ["AUS"], [
        ("Support Operations Analyst", 1, [], "employee")]),
    ("amelia.watson", "Support", ["support", "support-tier2"], ["AUS", "TOR"], [
        ("Customer Support Specialist", 5, [], "employee"), ("Technical Support Engineer", 2, [], "employee")]),
    ("raj.iyer", "Support", ["support"], ["BLR", "SIN"], [
        ("Customer Support Specialist", 4, [], "employee"),
        ("Customer Support Specialist", 1, ["contractors"], "contractor")]),
    ("emma.clarke", "Marketing", ["marketing", "marketing-ops"], ["LON"], [
        ("Marketing Operations Specialist", 1, [], "employee")]),
    ("lucas.bernard", "Marketing", ["marketing", "growth"], ["NYC"], [
        ("Growth Marketer", 2, [], "employee"), ("Marketing Intern", 1, ["interns"], "intern")]),
    ("nina.alvarez", "Marketing", ["marketing"], ["NYC", "LON"], [
        ("Content Marketing Manager", 1, [], "employee"), ("Product Marketing Manager", 2, [], "employee"),
        ("Brand Designer", 1, ["contractors"], "contractor")]),
    ("jonas.berg", "Product", ["product"], ["SF", "LON", "TOR"], [
        ("Senior Product Manager", 2, [], "employee"), ("Product Manager", 3, [], "employee")]),
    ("isla.morgan", "Design", ["design"], ["LON", "LIS"], [
        ("Senior Product Designer", 2, [], "employee"), ("Product Designer", 2, [], "employee"),
        ("UX Researcher", 1, [], "employee")]),
    ("rita.gomes", "People", ["people", "people-ops"], ["LIS", "AUS"], [
        ("People Operations Specialist", 2, [], "employee"), ("HR Business Partner", 2, [], "employee")]),
    ("zoe.adams", "People", ["people", "recruiting"], ["NYC", "LON"], [
        ("Technical Recruiter", 2, [], "employee"), ("Recruiting Coordinator", 1, ["contractors"], "contractor")]),
    ("paul.martin", "People", ["people", "payroll"], ["AUS"], [
        ("Payroll Specialist", 1, [], "employee")]),
    ("victor.osei", "Legal", ["legal"], ["NYC"], [
        ("Paralegal", 1, [], "employee"), ("Contracts Manager", 1, [], "employee")]),
]
for mgr, dept, groups, locs, roles in teams:
    for title, count, extra, etype in roles:
        for _ in range(count):
            h, n = fresh_name()
            add(h, n, dept, title, mgr, groups + extra, rng.choice(locs), etype)

# A few people away or gone, to exercise status handling (none of them manages or owns).
leavers = {"leave": 2, "terminated": 2}
candidates = [p for p in people if p["title"] in ("Account Executive", "Customer Support Specialist",
                                                     "Frontend Engineer", "Data Analyst")]
for status, count in leavers.items():
    for p in rng.sample([c for c in candidates if c["status"] == "active"], count):
        p["status"] = status

# Everyone with reports is in "managers"; every active employee/intern is in "all-staff".
managers = {p["manager"] for p in people if p["manager"]}
for p in people:
    if p["email"] in managers and "managers" not in p["groups"]:
        p["groups"].append("managers")
    if p["status"] != "terminated" and p["employment_type"] != "contractor":
        p["groups"].append("all-staff")
    # Slack identities for most active people (ids are stable: derived from the email).
    if p["slack"] is None and p["status"] != "terminated":
        digest = hashlib.sha1(p["email"].encode()).hexdigest().upper()
        if int(digest[0], 16) < 12:
            p["slack"] = "U0" + digest[:7]


def q(s):
    if any(c in s for c in ":#'\"{}[],&*!|>%@`") or s != s.strip():
        return '"' + s.replace('"', '\\"') + '"'
    return s


out = ["# Acme demo directory: generated by deploy/demo/gen/people.py — regenerate, don't edit.",
       f"# {len(people)} people; see catalog.yaml for the apps and entitlements they can request.",
       "people:"]
for p in people:
    out.append(f"  - email: {p['email']}")
    out.append(f"    name: {q(p['name'])}")
    out.append(f"    department: {p['department']}")
    out.append(f"    title: {q(p['title'])}")
    if p["manager"]:
        out.append(f"    manager: {p['manager']}")
    out.append(f"    groups: [{', '.join(p['groups'])}]")
    out.append(f"    location: {q(p['location'])}")
    out.append(f"    time_zone: {p['time_zone']}")
    out.append(f"    employment_type: {p['employment_type']}")
    out.append(f"    status: {p['status']}")
    if p["slack"]:
        out.append(f"    channel_ids: {{slack: {p['slack']}}}")
print("\n".join(out))
