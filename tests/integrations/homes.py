"""Fake HOME trees with client config files the way people really have them: comments, unknown keys,
trailing commas, tabs, CRLF, odd spacing."""

from __future__ import annotations

from pathlib import Path

CLAUDE_SETTINGS = """{
    "$schema": "https://json.schemastore.org/claude-code-settings.json",
    // team defaults, keep in sync with the wiki
    "permissions": {
        "allow": [
            "Bash(npm run test:*)",
            "Read(~/.zshrc)",
        ],
        "deny": ["Read(./.env)"]
    },
    "env": {
        "BASH_DEFAULT_TIMEOUT_MS": "120000"   // long builds
    },
    /* "model": "opus", */
    "includeCoAuthoredBy": false,
    "futureOption": {"x": [1, 2, {"y": null}]}
}
"""

CLAUDE_JSON = """{
  "numStartups": 42,
  "installMethod": "native",
  "autoUpdates": false,
  "mcpServers": {
    "github": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/"
    }
  },
  "projects": {
    "/home/dev/src/app": {
      "allowedTools": [],
      "mcpServers": {},
      "hasTrustDialogAccepted": true
    }
  },
  "userID": "5f3c2a9e0b7d4c1e8f6a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70",
  "oauthAccount": {"emailAddress": "dev@example.com", "organizationRole": "admin"}
}"""

CODEX_TOML = """# Codex configuration, see docs/config.md
model = "gpt-5-codex"          # default model
model_provider = "openai"
approval_policy = "on-request"
sandbox_mode    = "workspace-write"

[sandbox_workspace_write]
network_access = false

# projects I trust
[projects."/home/dev/src/app"]
trust_level = "trusted"

[mcp_servers.context7]
command = "npx"
args = ["-y", "@upstash/context7-mcp"]

[tui]
notifications = true
"""

CURSOR_MCP = (
    '{\r\n\t"mcpServers": {\r\n\t\t"filesystem": {\r\n\t\t\t"command": "npx",\r\n'
    '\t\t\t"args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/dev"]\r\n\t\t}\r\n\t}\r\n}\r\n'
)

CONTINUE_YAML = """# Continue config, https://docs.continue.dev/reference
name: Dev Assistant
version: 0.0.1
schema: v1

models:
  - name: Llama 3.1 8B   # local
    provider: ollama
    model: llama3.1:8b
    roles:
      - chat
      - edit
  - name: Autocomplete
    provider: ollama
    model: qwen2.5-coder:1.5b
    roles: [autocomplete]

context:
  - provider: code
  - provider: docs

rules:
  - "Always answer in English"   # quoted on purpose
"""

CONTINUE_JSON = """{
  "models": [
    {"title": "GPT-4o", "provider": "openai", "model": "gpt-4o", "apiKey": "sk-not-a-real-key"}
  ],
  "tabAutocompleteModel": {"title": "Starcoder", "provider": "ollama", "model": "starcoder2:3b"},
  "allowAnonymousTelemetry": false
}
"""

VSCODE_MCP = """{
  // MCP servers for VS Code
  "servers": {
    "playwright": {
      "command": "npx",
      "args": ["@playwright/mcp@latest"],
    },
  },
  "inputs": [
    /* none yet */
  ]
}
"""

FILES = {
    ".claude/settings.json": CLAUDE_SETTINGS,
    ".claude.json": CLAUDE_JSON,
    ".codex/config.toml": CODEX_TOML,
    ".cursor/mcp.json": CURSOR_MCP,
    ".continue/config.yaml": CONTINUE_YAML,
    ".config/Code/User/mcp.json": VSCODE_MCP,
}


def make_home(root: Path, files: dict[str, str] | None = None) -> Path:
    """A fake HOME under ``root`` holding ``files`` (default: every client's file), written byte-exact."""
    home = root / "home"
    for relative, text in (FILES if files is None else files).items():
        path = home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    home.mkdir(exist_ok=True)
    return home


def snapshot(home: Path) -> dict[str, bytes]:
    """Every file under ``home`` outside the gateway's own folder, with its bytes."""
    return {
        str(p.relative_to(home)): p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and ".adaptive-llm-gateway" not in p.parts
    }
