"""Configuration: strict schema, YAML loading with ${ENV} references, and the compiled runtime view."""

from adaptive_gateway.config.compiled import (
    CompiledConfig,
    Deployment,
    Model,
    Provider,
    compile_config,
    hash_key,
)
from adaptive_gateway.config.loader import (
    ConfigError,
    default_config_path,
    gateway_home,
    load_config,
    parse_config,
)
from adaptive_gateway.config.schema import GatewayConfig

__all__ = [
    "CompiledConfig",
    "ConfigError",
    "Deployment",
    "GatewayConfig",
    "Model",
    "Provider",
    "compile_config",
    "default_config_path",
    "gateway_home",
    "hash_key",
    "load_config",
    "parse_config",
]
