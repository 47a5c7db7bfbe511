# EXTRA file for ../shared/bench/peers.sh: adds this gateway as rows `agw` (OpenAI in, OpenAI-compatible
# upstream) and `agw-anth` (OpenAI in, Anthropic upstream: the translation path), against the same nginx
# fake on :18003 as LiteLLM and Portkey. Usage (from the repo root):
#   EXTRA=$PWD/bench/peers-extra.sh ONLY="direct-auto litellm portkey litellm-anth portkey-anth agw agw-anth" \
#     REPEATS=1 DUR=8 bash ../shared/bench/peers.sh run
AGW_DIR=${AGW_DIR:-/tmp/peers-agw}; mkdir -p "$AGW_DIR"
AGW_KEY=sk-agw-bench-0123456789abcdef
AGW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGW_HASH=$("$AGW_ROOT/.venv/bin/python" -c "from adaptive_gateway.config import hash_key; print(hash_key('$AGW_KEY'))")
cat >"$AGW_DIR/config.yaml" <<YAML
server: {request_log: true, request_log_file: "$AGW_DIR/requests.log", reload_poll_seconds: 0}
auth: {mode: gateway, master_key_hash: "$AGW_HASH"}
providers:
  fake: {kind: openai-compatible, base_url: "http://127.0.0.1:18003/v1", api_key: sk-x, max_connections: 2048}
  anth: {kind: anthropic, base_url: "http://127.0.0.1:18003", api_key: sk-x, max_connections: 2048}
# request.json asks for temperature 0.2, which the response cache would answer after the first request:
# off, so every request really goes upstream (as through LiteLLM and Portkey)
cache: {enabled: false}
models:
  gpt-4o-mini: {deployments: [{provider: fake, model: gpt-4o-mini, input_price: 0.15, output_price: 0.6}]}
  claude-haiku: {deployments: [{provider: anth, model: claude-3-5-haiku, input_price: 0.8, output_price: 4}]}
YAML
add_system agw 18040 "env ADAPTIVE_GATEWAY_HOME=$AGW_DIR $AGW_ROOT/.venv/bin/adaptive-llm-gateway start --config $AGW_DIR/config.yaml --port 18040 --workers $(nproc)" \
  http://127.0.0.1:18040 "gpt-4o-mini|Authorization: Bearer $AGW_KEY" "gpt-4o-mini|Authorization: Bearer $AGW_KEY"
add_system agw-anth 18040 "=agw" http://127.0.0.1:18040 "claude-haiku|Authorization: Bearer $AGW_KEY" \
  "claude-haiku|Authorization: Bearer $AGW_KEY"
