-- Nodes no longer hold the gateway secret's digest: gateways present signed assertions instead.
DELETE FROM `meta` WHERE `key` = 'gateway_secret_sha256';
