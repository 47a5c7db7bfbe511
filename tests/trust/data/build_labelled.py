"""Regenerate labelled.jsonl: ``.venv/bin/python tests/trust/data/build_labelled.py``.

Every secret here is FAKE: random characters in the right format, generated from a fixed seed so
the file is reproducible. Labels are what a careful human would say the string contains, decided
before looking at detector output; hard negatives are strings that look like findings but are not.
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

RNG = random.Random(20240607)
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"


def rand(n: int, alphabet: str = ALNUM) -> str:
    """Random characters; when the alphabet allows it, with upper case, lower case and a digit."""
    wanted = [str.isdigit, str.isupper, str.islower]
    wanted = [test for test in wanted if any(test(c) for c in alphabet)]
    while True:
        value = "".join(RNG.choice(alphabet) for _ in range(n))
        if all(any(test(c) for c in value) for test in wanted):
            return value


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def openai() -> str:
    return "sk-proj-" + rand(74, URLSAFE) + "T3BlbkFJ" + rand(74, URLSAFE)


def openai_legacy() -> str:
    return "sk-" + rand(20) + "T3BlbkFJ" + rand(20)


def anthropic() -> str:
    return "sk-ant-api03-" + rand(93, URLSAFE) + "AA"


def aws_id() -> str:
    return "AKIA" + "".join(RNG.choice(string.ascii_uppercase + "234567") for _ in range(16))


def aws_secret() -> str:
    return rand(40, ALNUM + "/+")


def jwt() -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(
        json.dumps({"sub": str(RNG.randint(10**6, 10**7)), "name": "Jane", "iat": 1716239022}).encode()
    )
    return f"{header}.{payload}.{rand(43, URLSAFE)}"


def private_key(kind: str = "RSA ") -> str:
    body = "\n".join(rand(64, ALNUM + "+/") for _ in range(4))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


S = {
    "openai": "secret.openai_key",
    "anthropic": "secret.anthropic_key",
    "aws": "secret.aws_access_key",
    "aws_secret": "secret.aws_secret_key",
    "github": "secret.github_token",
    "gitlab": "secret.gitlab_token",
    "slack": "secret.slack_token",
    "stripe": "secret.stripe_key",
    "google": "secret.google_api_key",
    "hf": "secret.huggingface_token",
    "groq": "secret.groq_key",
    "npm": "secret.npm_token",
    "sendgrid": "secret.sendgrid_key",
    "jwt": "secret.jwt",
    "pk": "secret.private_key",
    "conn": "secret.connection_string",
    "cred": "secret.credential_assignment",
    "entropy": "secret.high_entropy",
    "webhook": "secret.slack_webhook",
    "email": "pii.email",
    "phone": "pii.phone",
    "card": "pii.credit_card",
    "iban": "pii.iban",
    "ssn": "pii.us_ssn",
    "ip": "pii.ip_address",
    "nino": "pii.uk_nino",
    "sin": "pii.ca_sin",
    "aadhaar": "pii.in_aadhaar",
    "cpf": "pii.br_cpf",
    "dni": "pii.es_dni",
    "bsn": "pii.nl_bsn",
    "cf": "pii.it_fiscal_code",
    "nir": "pii.fr_nir",
    "idnr": "pii.de_tax_id",
}


def secrets_positive() -> list[tuple[str, list[str]]]:
    cases = [
        (f"OPENAI_API_KEY={openai()}", ["openai"]),
        (f'client = OpenAI(api_key="{openai()}")', ["openai"]),
        (f"here is my key {openai_legacy()} can you check why it 401s?", ["openai"]),
        (f"curl https://api.openai.com/v1/models -H 'Authorization: Bearer {openai()}'", ["openai"]),
        (f"export OPENAI_API_KEY='{openai()}'\nexport MODEL=gpt-4o", ["openai"]),
        (f"ANTHROPIC_API_KEY={anthropic()}", ["anthropic"]),
        (f'anthropic.Anthropic(api_key="{anthropic()}")', ["anthropic"]),
        (f"x-api-key: {anthropic()}", ["anthropic"]),
        (f"aws_access_key_id = {aws_id()}\naws_secret_access_key = {aws_secret()}", ["aws", "aws_secret"]),
        (f"The access key {aws_id()} was leaked in the logs", ["aws"]),
        (f'AWS_SECRET_ACCESS_KEY="{aws_secret()}"', ["aws_secret"]),
        (f"s3 = boto3.client('s3', aws_access_key_id='{aws_id()}')", ["aws"]),
        (f"git clone https://{'ghp_' + rand(36)}@github.com/acme/private.git", ["github"]),
        (f"GITHUB_TOKEN=ghp_{rand(36)}", ["github"]),
        (f"token: github_pat_{rand(22)}_{rand(59)}", ["github"]),
        (f"gh auth login --with-token <<< gho_{rand(36)}", ["github"]),
        (f"CI_JOB_TOKEN glpat-{rand(20, URLSAFE)} expired", ["gitlab"]),
        (
            f"SLACK_BOT_TOKEN=xoxb-{RNG.randint(10**10, 10**11)}-{RNG.randint(10**12, 10**13)}-{rand(24)}",
            ["slack"],
        ),
        (
            f"post to https://hooks.slack.com/services/T{rand(8).upper()}/B{rand(10).upper()}/{rand(24)}",
            ["webhook"],
        ),
        (f"stripe.api_key = 'sk_live_{rand(24)}'", ["stripe"]),
        (f"use rk_live_{rand(32)} for the restricted webhook job", ["stripe"]),
        (f"GOOGLE_API_KEY=AIza{rand(35, URLSAFE)}", ["google"]),
        (f"genai.configure(api_key='AIza{rand(35, URLSAFE)}')", ["google"]),
        (f"huggingface-cli login --token hf_{rand(34, string.ascii_letters)}", ["hf"]),
        (f"GROQ_API_KEY=gsk_{rand(52)}", ["groq"]),
        (f"//registry.npmjs.org/:_authToken=npm_{rand(36)}", ["npm"]),
        (f"SENDGRID_API_KEY=SG.{rand(22, URLSAFE)}.{rand(43, URLSAFE)}", ["sendgrid"]),
        (f"Authorization: Bearer {jwt()}", ["jwt"]),
        (f"the session cookie was {jwt()}; decode it for me", ["jwt"]),
        (f"id_token={jwt()}&state=abc", ["jwt"]),
        (private_key(), ["pk"]),
        (f"my deploy key:\n{private_key('OPENSSH ')}\nwhy does ssh reject it?", ["pk"]),
        (private_key("EC "), ["pk"]),
        (private_key("") + "\n", ["pk"]),
        (f"-----BEGIN RSA PRIVATE KEY-----\n{rand(64, ALNUM + '+/')}\n(truncated)", ["pk"]),
        ("DATABASE_URL=postgres://app:Tr0ub4dor3x@db.internal:5432/main", ["conn"]),
        ("mongodb+srv://admin:Qz81nVx0plr@cluster0.ab1cd.mongodb.net/prod?retryWrites=true", ["conn"]),
        ("redis://:s3cr3tRedisPw@10.0.0.5:6379/0", ["conn"]),
        ("mysql://root:hunter2hunter2@localhost/shop", ["conn"]),
        ("amqps://svc-orders:J8vLq2mZx@rabbit.prod.acme.io:5671/orders", ["conn"]),
        (
            "Server=tcp:acme.database.windows.net,1433;Database=sales;User ID=etl;Password=Pa55w0rd!2024;",
            ["conn"],
        ),
        (
            "DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey="
            + rand(86, ALNUM + "+/")
            + "==;EndpointSuffix=core.windows.net",
            ["conn"],
        ),
        ('db_password = "Sup3r-S3cret-Passw0rd"', ["cred"]),
        ('"password": "correct-horse-battery-staple"', ["cred"]),
        ("DB_PASSWORD=Wint3r!sC0ming", ["cred"]),
        (f'client_secret: "{rand(32)}"', ["cred"]),
        (f"REFRESH_TOKEN={rand(40)}", ["cred"]),
        (f'const apiKey = "{rand(32).lower()}";', ["cred"]),
        ("mysql -u root --password=Xk9mPq2wLz7 -h 127.0.0.1", ["cred"]),
        ("settings.SECRET_KEY = 'django-insecure-7x$k2!qp9m@z#w1v'", ["cred"]),
        (f"the signing value is {rand(40, ALNUM + '+/')}", ["entropy"]),
        (f"webhook_signature={rand(44, ALNUM + '+/')}==", ["entropy"]),
        (f"Use this: {rand(32)}", ["entropy"]),
        (f"MEILI_MASTER_KEY={rand(32, URLSAFE)}", ["entropy"]),
        (f"X-Auth: {rand(48, URLSAFE)}", ["entropy"]),
        (f"pypi-AgEIcHlwaS5vcmc{rand(60, URLSAFE)}", ["secret.pypi_token"]),
        (f"Two keys: {openai()} and {anthropic()}", ["openai", "anthropic"]),
        (f"keys\nAWS={aws_id()}\nGH=ghp_{rand(36)}\nSTRIPE=sk_live_{rand(30)}", ["aws", "github", "stripe"]),
    ]
    return cases


def pii_positive() -> list[tuple[str, list[str]]]:
    return [
        ("Please email jane.doe@example.com about the invoice.", ["email"]),
        ("Contact: <bob+billing@acme-corp.co.uk>", ["email"]),
        ("mailto:SUPPORT@Example.ORG", ["email"]),
        ("cc: a.b.c@sub.mail.example.io, x_y@example.net", ["email", "email"]),
        ('From: "Ana Lopez" <ana.lopez@universidad.es>', ["email"]),
        ("my email is kim92@gmail.com", ["email"]),
        ("reply to first.last@company.travel", ["email"]),
        ("user@example.com", ["email"]),
        ("Call me on +44 20 7946 0958 tomorrow", ["phone"]),
        ("Mobile: +49 151 23456789", ["phone"]),
        ("tel. +33 6 12 34 56 78", ["phone"]),
        ("US office (415) 555-2671, ask for Sam", ["phone"]),
        ("cell 212-555-0199", ["phone"]),
        ("Phone: 030 1234567", ["phone"]),
        ("reach the hotline at 650.253.0000", ["phone"]),
        ("+1-202-555-0143 is the on-call number", ["phone"]),
        ("WhatsApp +55 11 91234-5678", ["phone"]),
        ("Fax: (02) 9374 4000", ["phone"]),
        ("Card 4111 1111 1111 1111 exp 12/29", ["card"]),
        ("cc=5555555555554444", ["card"]),
        ("amex 3782 822463 10005", ["card"]),
        ("charge 4012-8888-8888-1881 please", ["card"]),
        ("Discover 6011111111111117", ["card"]),
        ("JCB 3530111333300000 declined", ["card"]),
        ("my visa is 4242424242424242", ["card"]),
        ("MC 5105 1051 0510 5100", ["card"]),
        ("Diners 30569309025904", ["card"]),
        ("IBAN: DE89 3704 0044 0532 0130 00", ["iban"]),
        ("wire to GB82WEST12345698765432 by Friday", ["iban"]),
        ("FR14 2004 1010 0505 0001 3M02 606", ["iban"]),
        ("NL91ABNA0417164300", ["iban"]),
        ("Konto ES91 2100 0418 4502 0005 1332", ["iban"]),
        ("IT60X0542811101000000123456", ["iban"]),
        ("BE68539007547034 (Belgian account)", ["iban"]),
        ("CH93 0076 2011 6238 5295 7", ["iban"]),
        ("SSN 536-22-1947", ["ssn"]),
        ("social security number: 078-05-1121", ["ssn"]),
        ("applicant ssn=412-75-3390, dob 1984-02-11", ["ssn"]),
        ("server 93.184.216.34 refused the connection", ["ip"]),
        ("ssh root@203.0.113.77", ["ip"]),
        ("client ip 81.2.69.142", ["ip"]),
        ("internal host 10.20.30.40 is down", ["ip"]),
        ("router at 192.168.1.254", ["ip"]),
        ("X-Forwarded-For: 81.2.69.160, 172.16.4.2", ["ip", "ip"]),
        ("AAAA record 2606:4700:4700::1111", ["ip"]),
        ("from 2001:4860:4860:0:0:0:0:8888 port 443", ["ip"]),
        ("Jane (jane@corp.example) called from +1 415 555 2671", ["email", "phone"]),
        ("Pay 4111111111111111 or IBAN DE89370400440532013000", ["card", "iban"]),
        ("login from 91.198.174.192 by ops@example.com", ["ip", "email"]),
    ]


def negatives() -> list[str]:
    uuid = "3f2a9c1e-7b4d-4e8a-9f61-0c2d5e8b7a13"
    return [
        f"request_id={uuid}",
        "UUID('123E4567-E89B-12D3-A456-426614174000')",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "git checkout 3f786850e387550fdab836ed7e6dc881de23001b",
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        "docker pull nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
        "md5 d41d8cd98f00b204e9800998ecf8427e",
        '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk'
        'YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==">',
        "background: url(data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7)",
        '"integrity": "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXGOM7YbpHe4+'
        'HoJOy7rtPKfdZGg8=="',
        "We upgraded from v1.2.3 to v1.10.0 last week",
        "Python 3.11.7 on Ubuntu 22.04.3 LTS",
        "Windows build 10.0.19045.3693",
        "node v20.11.1, npm 10.2.4",
        "released 2024-03-18 at 12:30:45 UTC",
        "timestamp 1700000000123 in ms",
        "ISBN 978-3-16-148410-0",
        "Order #123456789 shipped",
        "the answer is 1000000007 modulo prime",
        "range 100-200-3000 in the config",
        "coordinates 52.520008, 13.404954",
        "error code 0x80070005 when installing",
        "tracking number 1Z999AA10123456784",
        "HTTP 404 after 3 retries on port 8080",
        "invoice 2024-0042-7781",
        "Card 4111 1111 1111 1112 was rejected (typo)",
        "test number 1234 5678 9012 3456",
        "id 1234567812345678",
        "account 9999 8888 7777 6666",
        "IBAN DE89370400440532013001 has a bad checksum",
        "GB82WEST12345698765431",
        "XX12345678901234567 is not a country",
        "ISO code DE89 only",
        "@property\ndef name(self) -> str:",
        "npm install lodash@4.17.21 @types/node",
        "git@github.com:acme/widgets.git",
        "ssh user@localhost",
        "retina asset icon@2x.png and logo@3x.jpg",
        "decorators like @dataclass(frozen=True) and @app.get('/health')",
        "ping 127.0.0.1 and bind 0.0.0.0:8000",
        "netmask 255.255.255.0 broadcast 255.255.255.255",
        "localhost ::1 and fe80::1%eth0",
        "std::vector<int> v; std::map<std::string, int> m;",
        "use crate::config::Settings;",
        "time 12:30:45 and ratio 16:9",
        "MAC 00:1A:2B:3C:4D:5E",
        "version 1.2.3 and 4.5.6",
        "I use sk-learn and scikit-learn for the model",
        "task-manager-service-deployment-config-v2",
        "AKIA is the prefix of AWS access keys",
        "GitHub tokens start with ghp_ or github_pat_",
        "OPENAI_API_KEY=your-api-key-here",
        "OPENAI_API_KEY=<your key>",
        "api_key = os.environ['OPENAI_API_KEY']",
        'password = getpass.getpass("Password: ")',
        '"password": "<your-password>"',
        "token = '${GITHUB_TOKEN}'",
        "DB_PASSWORD=${DB_PASSWORD}",
        'api_key: "YOUR_API_KEY"',
        'password: "********"',
        "max_tokens: 4096, temperature: 0.2",
        "The context window is 128000 tokens",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1L\n"
        "-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBa\n"
        "-----END CERTIFICATE-----",
        "postgres://localhost:5432/app",
        "postgres://app:${DB_PASS}@db:5432/app",
        "redis://redis:6379/0",
        "https://docs.python.org/3/library/re.html#re.Pattern.finditer",
        "https://example.com/path?query=1&page=2",
        "TestRedactionRoundTripWithPlaceholders2",
        "HttpRequestHandlerFactory2 and XMLHttpRequest2EventTarget",
        "/usr/local/lib/python3.11/site-packages/detect_secrets/plugins/high_entropy_strings.py",
        "C:\\Users\\Public\\Documents\\Project2024\\build_output_final",
        "const handleSubmitButtonClick2 = useCallback(() => {}, []);",
        "the JWT header always starts with eyJ",
        "eyJhbGciOiJIUzI1NiJ9 is just a header",
        "def test_credit_card_luhn_validation_with_spaces():",
        "SELECT id, email, phone FROM users WHERE id = 42",
        "The phone field accepts E.164 numbers",
        "kubectl get pods -n kube-system -o wide",
        "AIza is the Google API key prefix",
        "pip install detect-secrets==1.5.0",
        "ghcr.io/acme/gateway:1.4.2-alpine3.19",
        "my password is not something I share",
        "token_count = len(tokens)",
        "secret = load_secret('db')",
        "passwords must be at least 12 characters",
        "coverage 87.5% across 1,234 tests",
        "call me at noon",
        "Meeting room 4.12, building 7",
        "pages 123-145 of the manual",
        "zip code 94103",
        "Fibonacci 1 1 2 3 5 8 13 21 34 55 89 144",
        "lat/long 37.7749,-122.4194",
        "hash e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "base64 SGVsbG8gd29ybGQ= is hello world",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "snake_case_identifier_that_goes_on_and_on_123",
        "kebab-case-component-name-for-the-dashboard-v3",
        "x = 5 + 12345678",
        "1e+10 and 3.14e-5",
        "build #4821, 12 tests failed in 3.42s",
        "IPv4 address format is a.b.c.d",
        "2001 was a good year; 2010:2020 was the range",
    ]


def mixed_prompts() -> list[tuple[str, list[str]]]:
    """Longer, realistic prompts: code, logs and configs with findings among ordinary content."""
    return [
        (
            "Why does this fail?\n```python\nimport os\nfrom openai import OpenAI\n\n"
            f'client = OpenAI(api_key="{openai()}", timeout=30)\n'
            "resp = client.chat.completions.create(model='gpt-4o', messages=msgs)\n```\n"
            "Traceback: openai.AuthenticationError: Error code: 401",
            ["openai"],
        ),
        (
            "nginx access log:\n"
            '93.184.216.34 - - [18/Mar/2024:10:12:01 +0000] "GET /api/v1/users HTTP/1.1" 200 512\n'
            '10.0.0.12 - - [18/Mar/2024:10:12:02 +0000] "POST /login HTTP/1.1" 401 87\n'
            '127.0.0.1 - - [18/Mar/2024:10:12:03 +0000] "GET /health HTTP/1.1" 200 2',
            ["ip", "ip"],
        ),
        (
            "docker-compose.yml:\nservices:\n  db:\n    image: postgres:16\n    environment:\n"
            "      POSTGRES_PASSWORD: Xq7!mVb2#Lp9\n    ports:\n      - '5432:5432'\n",
            ["cred"],
        ),
        (
            "customer record: {'name': 'Maria Garcia', 'email': 'maria.garcia@example.com', "
            "'phone': '+34 612 345 678', 'iban': 'ES9121000418450200051332', 'tier': 'gold'}",
            ["email", "phone", "iban"],
        ),
        (
            "[2024-03-18T10:12:01.123Z] INFO request_id=3f2a9c1e-7b4d-4e8a-9f61-0c2d5e8b7a13 "
            "user_id=48213 latency_ms=182 status=200 route=/v1/chat/completions model=gpt-4o-mini",
            [],
        ),
        (
            'package.json:\n{\n  "name": "@acme/web",\n  "version": "2.14.0",\n'
            '  "dependencies": {"react": "^18.2.0", "next": "14.1.3"},\n'
            '  "engines": {"node": ">=20.11.1"}\n}',
            [],
        ),
        (
            "Here's my .env, what's wrong?\nNODE_ENV=production\nPORT=3000\n"
            f"STRIPE_SECRET_KEY=sk_live_{rand(24)}\nSTRIPE_WEBHOOK_SECRET=whsec_{rand(32)}\n"
            "LOG_LEVEL=debug",
            ["stripe", "cred"],
        ),
        (
            "kubectl describe pod api-7d9c6b5f4-x2l8k\n  IP: 10.244.1.17\n  Node: worker-2/172.18.0.3\n"
            "  Image: ghcr.io/acme/api:1.4.2\n  Ready: True",
            ["ip", "ip"],
        ),
        (
            "Refactor this function:\n```ts\nexport async function fetchUser(id: string): Promise<User> {\n"
            "  const res = await fetch(`${API_BASE}/users/${encodeURIComponent(id)}`, {\n"
            "    headers: { Authorization: `Bearer ${token}` },\n  });\n"
            "  if (!res.ok) throw new HttpError(res.status, await res.text());\n  return res.json();\n}\n```",
            [],
        ),
        (
            "Please draft a reply to Tom (tom.becker@acme-logistics.de, +49 89 1234 5678) "
            "confirming the refund to DE44 5001 0517 5407 3249 31 by Friday.",
            ["email", "phone", "iban"],
        ),
        (
            'terraform.tfvars:\nregion = "eu-central-1"\ninstance_type = "t3.medium"\n'
            f'access_key = "{aws_id()}"\nsecret_key = "{aws_secret()}"',
            ["aws", "cred"],
        ),
        (
            "SQL dump excerpt:\nINSERT INTO users (id, email, ssn) VALUES "
            "(1, 'li.wei@example.org', '501-42-7788'), (2, 'o.brien@example.org', '219-45-1120');",
            ["email", "ssn", "email", "ssn"],
        ),
        (
            "Benchmark results (ms): p50=12.4 p95=48.9 p99=121.7 max=402.0; "
            "throughput 18,230 req/s on 8 vCPU; commit a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
            [],
        ),
        (
            "The Makefile runs `pytest -n 4 --maxfail=1 tests/` then `ruff check src tests` "
            "and `mypy --strict src/adaptive_gateway`. CI uses ubuntu-22.04 and Python 3.11.",
            [],
        ),
        (
            "My config:\nmodel_list:\n  - model_name: claude\n    litellm_params:\n"
            f"      model: anthropic/claude-3-5-sonnet\n      api_key: {anthropic()}\n",
            ["anthropic"],
        ),
        (
            "Payment failed for card ending 4242. Full PAN from the log: 4242 4242 4242 4242, "
            "billing zip 94103, phone (650) 253-0000.",
            ["card", "phone"],
        ),
        (
            "git log --oneline\n9fceb02 Fix retry loop\n3f78685 Add backoff\n"
            "e3b0c44 Bump deps to 1.4.2\nd41d8cd Merge branch 'feature/trust-router'",
            [],
        ),
        (
            "CSS: .btn { color: #1a2b3c; background: #FFFFFF; margin: 0 4px 8px 16px; } "
            "@media (max-width: 768px) { .btn { width: 100%; } }",
            [],
        ),
    ]


def more_negatives() -> list[str]:
    return [
        "watch https://www.youtube.com/watch?v=dQw4w9WgXcQ later",
        "color #1a2b3c and rgba(12, 34, 56, 0.5)",
        "Set-Cookie: theme=dark; Path=/; Max-Age=31536000; SameSite=Lax",
        "The Kubernetes API server listens on :6443",
        "matrix [[1, 2, 3], [4, 5, 6], [7, 8, 9]]",
        "f(x) = 3x^2 + 2x + 1, f'(x) = 6x + 2",
        "Room booking 10:00-11:30, +2 guests",
        "version: '3.8'\nservices:\n  web:\n    build: .\n    ports: ['8000:8000']",
        "SELECT COUNT(*) FROM orders WHERE created_at > '2024-01-01' AND total > 100.00",
        "npm WARN deprecated inflight@1.0.6: This module is not supported",
        "Error: connect ECONNREFUSED 127.0.0.1:5432",
        "our SLA is 99.95% with RTO 4h and RPO 15m",
        "Use the `secrets` module: token = secrets.token_urlsafe(32)",
        "password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt())",
        "if api_key is None: raise ValueError('missing api key')",
        "See RFC 7519 for JWT and RFC 4648 for base64url",
        "The IBAN format is CCkk BBBB BBBB ... up to 34 characters",
        "phone numbers look like +<country code> <number>",
        "AWS regions: us-east-1, eu-west-2, ap-southeast-1",
        "PR #1234 by @octocat merged into main",
        "id_ce_keyUsage = univ.ObjectIdentifier('2.5.29.15')",
        "According to RFC 9110 section 8.4.1.3, recipients should decode the content",
        "Google's resolver 8.8.8.8 and Cloudflare's 1.1.1.1 are public services",
        'engine = create_engine("postgresql+psycopg2://scott:tiger@host/dbname")',
        "redis://[[username]:[password]]@localhost:6379/0",
        "    password=password,\n    key_password=self.key_password,",
        "username: str\n    password: SecretBytes",
        'token_uri="https://oauth2.googleapis.com/token",',
        '"id": "toolu_01D7FLrfh4GYq7yT1ULFeyMV", "type": "tool_use"',
        "Workspace ID (for example, `wrkspc_011CZkZaBF1tNoB5wlCeusgy`)",
        "see https://www.scielo.br/j/pope/a/XHswBwRwJyrfL88dmMwYNWp/?lang=en",
        "'TF2_IsPlayerInCondition', 'TF2_RemoveWearable'",
        '_SK_START = b"-----BEGIN OPENSSH PRIVATE KEY-----"\n_SK_END = b"-----END OPENSSH PRIVATE KEY-----"',
        "chatcmpl-9x8Yq2LmN4pR6tV8wZ0bC2dF4hJ6kL8m finished with stop",
        "rate-limit group (for example, `rlg_01VPTCmyiu5ZLsWkcxYG2pY8`)",
        "    verify_token: str | None = None  # set by the CLI",
        "config: {'page_size': 5, 'page_token': None}",
        "user_email=\"li.wei\" and password_field='passwordInput'",
        "ollama pull hf.co/bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M",
        "load HuggingFaceTB/SmolLM2-135M-Instruct and Qwen/Qwen2.5-Coder-7B-Instruct",
        "mistralai/Mistral-7B-Instruct-v0.3 vs phi-4-Q4_K_M.gguf",
        "pip install torch==2.3.1+cu121 --index-url https://download.pytorch.org/whl/cu121",
        "model: claude-3-5-sonnet-20241022, fallback: gpt-4o-mini-2024-07-18",
    ]


# ---- national ids: generated from their published rules, with their own RNG so the rows above stay ----

IDS = random.Random(20250704)
UPPER = string.ascii_uppercase


def digits(n: int, first: str = string.digits) -> str:
    return IDS.choice(first) + "".join(IDS.choice(string.digits) for _ in range(n - 1))


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body + "0")):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def sin(sep: str = " ") -> str:
    number = digits(8, "1234567")
    number += luhn_digit(number)
    return sep.join((number[:3], number[3:6], number[6:])) if sep else number


VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]  # fmt: skip
VERHOEFF_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4]]
for _ in range(6):
    VERHOEFF_P.append([VERHOEFF_P[1][x] for x in VERHOEFF_P[-1]])


def verhoeff_ok(number: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = VERHOEFF_D[c][VERHOEFF_P[i % 8][int(ch)]]
    return c == 0


def aadhaar(sep: str = " ") -> str:
    body = digits(11, "23456789")
    number = next(body + d for d in string.digits if verhoeff_ok(body + d))
    return sep.join((number[:4], number[4:8], number[8:])) if sep else number


def cpf_digits() -> str:
    while True:
        ds = [int(c) for c in digits(9)]
        for n in (9, 10):
            ds.append(sum(d * (n + 1 - i) for i, d in enumerate(ds)) * 10 % 11 % 10)
        if len(set(ds)) > 1:
            return "".join(map(str, ds))


def cpf(formatted: bool = True) -> str:
    n = cpf_digits()
    return f"{n[:3]}.{n[3:6]}.{n[6:9]}-{n[9:]}" if formatted else n


def dni() -> str:
    n = digits(8)
    return n + "TRWAGMYFPDXBNJZSQVHLCKE"[int(n) % 23]


def nie() -> str:
    prefix, n = IDS.choice("XYZ"), digits(7)
    return prefix + n + "TRWAGMYFPDXBNJZSQVHLCKE"[int(str("XYZ".index(prefix)) + n) % 23]


def bsn(dotted: bool = False) -> str:
    while True:
        body = digits(8, "123456789")
        last = sum(int(c) * (9 - i) for i, c in enumerate(body)) % 11
        if last < 10:
            n = body + str(last)
            return f"{n[:4]}.{n[4:6]}.{n[6:]}" if dotted else n


_ODD_VALUES = (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23)
CF_ODD = dict(
    zip(string.digits + UPPER, (*_ODD_VALUES[:10], *_ODD_VALUES), strict=True)
)  # digits count as A-J


def cf_check(body: str) -> str:
    total = sum(
        CF_ODD[ch] if i % 2 == 0 else (int(ch) if ch.isdigit() else ord(ch) - 65) for i, ch in enumerate(body)
    )
    return chr(65 + total % 26)


def codice_fiscale() -> str:
    day = IDS.choice([IDS.randint(1, 28), IDS.randint(41, 68)])
    body = (
        "".join(IDS.choice(UPPER) for _ in range(6))
        + f"{IDS.randint(40, 99)}{IDS.choice('ABCDEHLMPRST')}{day:02d}"
        + IDS.choice("ADFGHLMZ") + f"{IDS.randint(1, 999):03d}"
    )  # fmt: skip
    return body + cf_check(body)


def nir(spaced: bool = True) -> str:
    body = f"{IDS.choice('12')}{IDS.randint(40, 99)}{IDS.randint(1, 12):02d}{IDS.randint(1, 95):02d}"
    body += digits(3) + digits(3)
    key = 97 - int(body) % 97
    if not spaced:
        return f"{body}{key:02d}"
    parts = (body[0], body[1:3], body[3:5], body[5:7], body[7:10], body[10:13], f"{key:02d}")
    return " ".join(parts)


def idnr_check(ten: str) -> str:
    product = 10
    for ch in ten:
        total = (int(ch) + product) % 10 or 10
        product = total * 2 % 11
    return str((11 - product) % 10)


def idnr(spaced: bool = False) -> str:
    while True:
        pool = IDS.sample(string.digits, 9)  # nine distinct digits, one of them twice
        ten = [*pool, pool[IDS.randrange(9)]]
        IDS.shuffle(ten)
        if ten[0] != "0":
            n = "".join(ten)
            n += idnr_check(n)
            return f"{n[:2]} {n[2:5]} {n[5:8]} {n[8:]}" if spaced else n


def nino(spaced: bool = True) -> str:
    first = IDS.choice([c for c in UPPER if c not in "DFIQUV"])
    second = IDS.choice([c for c in UPPER if c not in "DFIOQUV"])
    if first + second in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
        return nino(spaced)
    n, suffix = digits(6), IDS.choice("ABCD")
    return f"{first}{second} {n[:2]} {n[2:4]} {n[4:]} {suffix}" if spaced else f"{first}{second}{n}{suffix}"


def wrong_letter(value: str) -> str:
    """The same id with its final check letter changed."""
    return value[:-1] + ("A" if value[-1] != "A" else "B")


def off_by_one(value: str) -> str:
    """The same id with its last digit changed: the check digit no longer matches."""
    i = max(i for i, ch in enumerate(value) if ch.isdigit())
    return value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1 :]


def national_ids() -> list[tuple[str, list[str]]]:
    return [
        (f"National Insurance number: {nino()}", ["nino"]),
        (f"NI no {nino(False)} - payroll", ["nino"]),
        (f"my NINO is {nino()}, tax code 1257L", ["nino"]),
        (f"employee {nino(False)} started 2024-04-06", ["nino"]),
        (f"SIN {sin()}", ["sin"]),
        (f"Social Insurance Number: {sin('-')}", ["sin"]),
        (f"numéro d'assurance sociale (NAS) : {sin()}", ["sin"]),
        (f"sin: {sin('')}", ["sin"]),
        (f"Aadhaar {aadhaar()}", ["aadhaar"]),
        (f"आधार / Aadhaar no. {aadhaar('-')}", ["aadhaar"]),
        (f"UIDAI number {aadhaar('')} verified", ["aadhaar"]),
        (f"KYC: PAN and Aadhaar {aadhaar()} attached", ["aadhaar"]),
        (f"CPF: {cpf()}", ["cpf"]),
        (f"Nome: João Silva, CPF {cpf()}, nascido em 1990", ["cpf"]),
        (f"cpf={cpf(False)}", ["cpf"]),
        (f"DNI {dni()}", ["dni"]),
        (f"NIE: {nie()}", ["dni"]),
        (f"Titular con DNI {dni()} y teléfono +34 612 345 678", ["dni", "phone"]),
        (f"BSN {bsn()}", ["bsn"]),
        (f"burgerservicenummer: {bsn(True)}", ["bsn"]),
        (f"BSN-nummer {bsn(True)} van de klant", ["bsn"]),
        (f"Codice fiscale: {codice_fiscale()}", ["cf"]),
        (f"CF {codice_fiscale()} - residenza Milano", ["cf"]),
        (f"intestatario {codice_fiscale()}", ["cf"]),
        (f"N° de sécurité sociale : {nir()}", ["nir"]),
        (f"NIR {nir(False)}", ["nir"]),
        (f"numéro INSEE {nir()} (assuré)", ["nir"]),
        (f"Steuer-ID: {idnr()}", ["idnr"]),
        (f"Steuerliche Identifikationsnummer {idnr(True)}", ["idnr"]),
        (f"IdNr {idnr()} für die Lohnabrechnung", ["idnr"]),
        (
            f"HR export:\nname,email,ni_number\nAmy Lee,amy.lee@example.co.uk,{nino(False)}\n"
            f"Raj Patel,raj.patel@example.co.uk,{nino(False)}",
            ["email", "nino", "email", "nino"],
        ),
        (
            f"Antragsteller: Max Mustermann, IBAN DE89 3704 0044 0532 0130 00, Steuer-ID {idnr(True)}",
            ["iban", "idnr"],
        ),
        (
            f"customer = {{'name': 'Ana Souza', 'cpf': '{cpf()}', 'email': 'ana.souza@example.com.br'}}",
            ["cpf", "email"],
        ),
        (f"Please verify: Aadhaar {aadhaar()}, mobile +91 98765 43210", ["aadhaar", "phone"]),
        (f"Dossier: {nir()} / carte 4111 1111 1111 1111", ["nir", "card"]),
        (f"{cpf()}", ["cpf"]),  # formats with a strong check are reported without a label
        (f"Mario Bianchi {codice_fiscale()}", ["cf"]),
        (f"{idnr()} - bitte prüfen", ["idnr"]),
        (f"X. Dupont, {nir(False)}", ["nir"]),
        (f"Ana García {dni()}", ["dni"]),
    ]


def national_id_negatives() -> list[str]:
    return [
        f"SIN {off_by_one(sin())}",
        f"Aadhaar {off_by_one(aadhaar())}",
        f"CPF {off_by_one(cpf())}",
        f"DNI {wrong_letter(dni())}",
        f"NIE {wrong_letter(nie())}",
        f"BSN {off_by_one(bsn())}",
        f"codice fiscale {wrong_letter(codice_fiscale())}",
        f"NIR {off_by_one(nir())}",
        f"Steuer-ID {off_by_one(idnr())}",
        "NINO QQ 12 34 56 C is the example format",
        "NI number BG 12 34 56 A (never allocated)",
        "ref GB123456A",
        "batch AB123456E",
        "SIN 046 454 286 (the sample number)",
        f"Order #{sin('')} shipped on 2024-05-02",
        f"tracking number {bsn()}",
        f"invoice {aadhaar('')}",
        f"customer id {cpf(False)}",
        "Serial 2023 4567 8910 4455",
        "12345678",
        "Case 2023-0001234-X",
        "version 1.2.3.4567",
        "postcode 1234 AB Amsterdam",
        f"y = math.sin({sin('')})",
        "random 48213907562 and 90817263541",
        "timestamps 170000000012 170000000034",
        "product code ABCDEF12G34H567I",
        "ISO 3166 code ES-M, ZIP 28013",
        "part 12345678-B of the kit",
        "ticket INC0012345 resolved",
        "SKU X1234567-L",
        "the range 100 200 300 400",
        "balance 1.234.567,89 EUR",
        "255 250 250\t\tsnow\n248 248 255\t\tghost white\n245 245 245\t\twhite smoke",
        "seasons 2023 2024 2025 and 2026 2027 2028",
        f"ref {sin()} (no label: a SIN has only a Luhn check)",
        f"grid {aadhaar()} in the sheet",
        "IP ranges 192.168 and 10.0",
    ]


def main() -> None:
    rows = []
    for text, labels in secrets_positive() + pii_positive() + mixed_prompts() + national_ids():
        rows.append({"text": text, "expected": sorted(S.get(label, label) for label in labels)})
    negs = negatives() + more_negatives() + national_id_negatives()
    rows.extend({"text": text, "expected": []} for text in negs)
    path = Path(__file__).with_name("labelled.jsonl")
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {path}")


if __name__ == "__main__":
    main()
