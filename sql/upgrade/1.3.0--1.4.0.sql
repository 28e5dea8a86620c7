-- tenant_auth upgrade step 1.3.0 to 1.4.0. Run in the database tenant_auth
-- is installed in, after tenant_auth.so 1.4.0 is in plugin_dir, then run
-- install.sql of 1.4.0:
--   mariadb tenant_auth < build/sql/upgrade/1.3.0--1.4.0.sql
--   mariadb tenant_auth < build/sql/install.sql
-- From 1.2.0 or older, run the earlier steps first, in order, then this
-- one, then install.sql.
-- What 1.4.0 changes in the tables (every row is kept; NULL is "none"):
--   tenants.rate_requests, rate_seconds       the tenant's rate limit
--   tenants.max_token_lifetime                longest lifetime of new tokens
--   tenant_tokens.rate_requests, rate_seconds the token's rate limit
--   checks on those (both NULL, or 1..1000000000 per 1..86400 seconds;
--   a lifetime of 1..315360000 seconds)
--   tenant_usage                              requests per tenant per minute,
--                                             new and empty
--   tenant_rate_counts                        the instances' shared counts,
--                                             new and empty
--   tenant_auth_batches                       each instance's last batch
--                                             applied, new and empty
-- install.sql then adds the routines (limits, lifetime policy,
-- authorize_tenant_token_hashes, add_tenant_usage, sync_tenant_rate_counts,
-- list_tenants, prune_tenant_usage) and their grants, and keeps
-- verify_tenant_token_hashes as it was, so that tenant-authd 1.3.0 keeps
-- working until it is upgraded. Adding a check rebuilds tenants and
-- tenant_tokens (a table copy): on a large tenant_tokens, run it at a
-- quiet time.
--
-- The step checks where it runs: the tables of 1.2.0 or 1.3.0 must be here
-- (they are the same), the routines must be those of 1.3.0, or of 1.2.0 or
-- 1.1.0 when earlier steps ran just before without their install.sql, or
-- of 1.4.0 already (running the step twice changes nothing).
DELIMITER //
BEGIN NOT ATOMIC
  IF (SELECT COUNT(*) FROM information_schema.tables
       WHERE table_schema = DATABASE()
         AND table_name IN ('tenants', 'tenant_tokens')) <> 2 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth upgrade 1.3.0--1.4.0: no tenant_auth tables in this database';
  END IF;
  IF (SELECT COUNT(*) FROM information_schema.columns
       WHERE table_schema = DATABASE()
         AND ((table_name = 'tenant_tokens' AND column_name = 'abilities')
              OR (table_name = 'tenants' AND column_name = 'suspended_at')
              OR (table_name = 'tenant_auth_audit' AND column_name = 'id'))) <> 3 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth upgrade 1.3.0--1.4.0: the tables here are older than 1.2.0; run 1.1.0--1.2.0.sql and 1.2.0--1.3.0.sql first';
  END IF;
  IF EXISTS (SELECT 1 FROM information_schema.routines
              WHERE routine_schema = DATABASE()
                AND routine_name = 'tenant_auth_schema_version') THEN
    IF tenant_auth_schema_version() NOT IN ('1.1.0', '1.2.0', '1.3.0', '1.4.0') THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
        'tenant_auth upgrade 1.3.0--1.4.0: the schema here is not version 1.3.0';
    END IF;
  END IF;
END//
DELIMITER ;

ALTER TABLE tenants
  ADD COLUMN IF NOT EXISTS rate_requests INT UNSIGNED NULL DEFAULT NULL
    COMMENT 'rate limit of the tenant: requests per rate_seconds' AFTER suspended_at,
  ADD COLUMN IF NOT EXISTS rate_seconds INT UNSIGNED NULL DEFAULT NULL
    COMMENT 'rate limit of the tenant: its window, in seconds' AFTER rate_requests,
  ADD COLUMN IF NOT EXISTS max_token_lifetime INT UNSIGNED NULL DEFAULT NULL
    COMMENT 'longest lifetime of a token issued from now on, in seconds' AFTER rate_seconds;
ALTER TABLE tenant_tokens
  ADD COLUMN IF NOT EXISTS rate_requests INT UNSIGNED NULL DEFAULT NULL
    COMMENT 'rate limit of the token: requests per rate_seconds' AFTER abilities,
  ADD COLUMN IF NOT EXISTS rate_seconds INT UNSIGNED NULL DEFAULT NULL
    COMMENT 'rate limit of the token: its window, in seconds' AFTER rate_requests;
DELIMITER //
BEGIN NOT ATOMIC
  IF NOT EXISTS (SELECT 1 FROM information_schema.table_constraints
                  WHERE constraint_schema = DATABASE() AND table_name = 'tenants'
                    AND constraint_name = 'tenants_rate_limit') THEN
    ALTER TABLE tenants ADD CONSTRAINT tenants_rate_limit CHECK (
      (rate_requests IS NULL AND rate_seconds IS NULL)
      OR COALESCE(rate_requests BETWEEN 1 AND 1000000000
                AND rate_seconds BETWEEN 1 AND 86400, FALSE));
  END IF;
  IF NOT EXISTS (SELECT 1 FROM information_schema.table_constraints
                  WHERE constraint_schema = DATABASE() AND table_name = 'tenants'
                    AND constraint_name = 'tenants_max_token_lifetime') THEN
    ALTER TABLE tenants ADD CONSTRAINT tenants_max_token_lifetime CHECK (
      max_token_lifetime IS NULL OR max_token_lifetime BETWEEN 1 AND 315360000);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM information_schema.table_constraints
                  WHERE constraint_schema = DATABASE() AND table_name = 'tenant_tokens'
                    AND constraint_name = 'tenant_tokens_rate_limit') THEN
    ALTER TABLE tenant_tokens ADD CONSTRAINT tenant_tokens_rate_limit CHECK (
      (rate_requests IS NULL AND rate_seconds IS NULL)
      OR COALESCE(rate_requests BETWEEN 1 AND 1000000000
                AND rate_seconds BETWEEN 1 AND 86400, FALSE));
  END IF;
END//
DELIMITER ;

CREATE TABLE IF NOT EXISTS tenant_usage (
  tenant_id UUID            NOT NULL,
  minute    DATETIME        NOT NULL COMMENT 'UTC, seconds 0',
  requests  BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'answered 2xx',
  limited   BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'answered 429 rate_limited',
  PRIMARY KEY (tenant_id, minute),
  KEY tenant_usage_minute (minute)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='tenant_auth: requests answered per tenant per minute, for quotas and billing';

CREATE TABLE IF NOT EXISTS tenant_rate_counts (
  scope      CHAR(1)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL
                      COMMENT 't: a tenant, k: a token',
  key_id     VARCHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
                      COMMENT 'the tenant''s UUID, or the token''s id in decimal',
  seconds    INT UNSIGNED    NOT NULL COMMENT 'the window''s length',
  `window`   BIGINT UNSIGNED NOT NULL COMMENT 'floor(UNIX seconds / seconds)',
  instance   CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  admitted   BIGINT UNSIGNED NOT NULL DEFAULT 0,
  expires_at TIMESTAMP(6)    NOT NULL COMMENT 'end of the window, plus seconds',
  PRIMARY KEY (scope, key_id, seconds, `window`, instance),
  KEY tenant_rate_counts_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='tenant_auth: requests admitted under rate limits, per instance and window';

-- The last batch each tenant-authd instance applied, per kind (u:
-- add_tenant_usage, r: sync_tenant_rate_counts), so that a batch sent
-- again (its answer was lost) adds nothing: exactly once. Written and read
-- only by those two routines, in the transaction of the batch's rows; no
-- role reads it. A row is deleted by them a day after its last batch.
CREATE TABLE IF NOT EXISTS tenant_auth_batches (
  instance CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
                    COMMENT 'the instance''s UUID, made at its start',
  kind     CHAR(1)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL
                    COMMENT 'u: tenant usage, r: rate counts',
  seq      BIGINT UNSIGNED NOT NULL COMMENT 'the last batch applied',
  done_at  TIMESTAMP(6)    NOT NULL COMMENT 'when it was applied',
  PRIMARY KEY (instance, kind),
  KEY tenant_auth_batches_done (done_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='tenant_auth: the last batch of counts each instance applied, per kind';
