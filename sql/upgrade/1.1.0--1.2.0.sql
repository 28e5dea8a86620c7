-- tenant_auth upgrade step 1.1.0 to 1.2.0. Run in the database tenant_auth
-- is installed in, after tenant_auth.so 1.2.0 is in plugin_dir, then run
-- install.sql of 1.2.0:
--   mariadb tenant_auth < build/sql/upgrade/1.1.0--1.2.0.sql
--   mariadb tenant_auth < build/sql/install.sql
-- From 1.0.0, run 1.0.0--1.1.0.sql first, then this step, then install.sql.
-- What 1.2.0 changes in the tables (every row is kept):
--   tenants.suspended_at        NULL: not suspended (suspend_tenant)
--   tenant_tokens.abilities     JSON, '["*"]' for every existing token:
--                               each keeps every right it had
--   tenant_tokens keys on revoked_at and expires_at, for pruning
--   tenant_auth_audit           the audit trail, new and empty
-- install.sql then adds the routines (abilities, lifecycle, audit, pruning,
-- leaked-token revocation), the UDF tenant_token_find, and moves the roles
-- to per-installation names if @tenant_auth_roles asks for it (see
-- docs/operations.md, "Roles of several installations").
--
-- The step checks where it runs: the tables of 1.0.0/1.1.0 must be here, and
-- the routines must be those of 1.0.0 or 1.1.0 (after the 1.0.0--1.1.0
-- step, install.sql of 1.1.0 may not have run: no schema version then), or
-- of 1.2.0 already (running the step twice changes nothing).
DELIMITER //
BEGIN NOT ATOMIC
  IF (SELECT COUNT(*) FROM information_schema.tables
       WHERE table_schema = DATABASE()
         AND table_name IN ('tenants', 'tenant_tokens')) <> 2 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth upgrade 1.1.0--1.2.0: no tenant_auth tables in this database';
  END IF;
  IF EXISTS (SELECT 1 FROM information_schema.routines
              WHERE routine_schema = DATABASE()
                AND routine_name = 'tenant_auth_schema_version') THEN
    IF tenant_auth_schema_version() NOT IN ('1.1.0', '1.2.0') THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
        'tenant_auth upgrade 1.1.0--1.2.0: the schema here is not version 1.1.0';
    END IF;
  END IF;
END//
DELIMITER ;

ALTER TABLE tenants
  ADD COLUMN IF NOT EXISTS suspended_at TIMESTAMP(6) NULL DEFAULT NULL
    AFTER settings;
ALTER TABLE tenant_tokens
  ADD COLUMN IF NOT EXISTS abilities JSON NOT NULL DEFAULT '["*"]'
    COMMENT 'what the token may do: ability names and patterns' AFTER hint,
  ADD KEY IF NOT EXISTS tenant_tokens_revoked (revoked_at),
  ADD KEY IF NOT EXISTS tenant_tokens_expires (expires_at);
DELIMITER //
BEGIN NOT ATOMIC
  IF NOT EXISTS (SELECT 1 FROM information_schema.table_constraints
                  WHERE constraint_schema = DATABASE()
                    AND table_name = 'tenant_tokens'
                    AND constraint_name = 'tenant_tokens_abilities_json') THEN
    ALTER TABLE tenant_tokens ADD CONSTRAINT tenant_tokens_abilities_json
      CHECK (JSON_VALID(abilities));
  END IF;
END//
DELIMITER ;

CREATE TABLE IF NOT EXISTS tenant_auth_audit (
  id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  at        TIMESTAMP(6)    NOT NULL,
  account   VARCHAR(400)    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
                            COMMENT 'USER() of the caller: user@host as it connected',
  action    VARCHAR(32)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  tenant_id UUID            NULL DEFAULT NULL,
  token_id  BIGINT UNSIGNED NULL DEFAULT NULL,
  details   JSON            NOT NULL DEFAULT '{}',
  PRIMARY KEY (id),
  KEY tenant_auth_audit_at (at),
  KEY tenant_auth_audit_tenant (tenant_id, id),
  CONSTRAINT tenant_auth_audit_details_json CHECK (JSON_VALID(details))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='tenant_auth: audit trail of every change made through the routines';

-- Tokens pasted where no token belongs. 1.2.0 refuses a token in a
-- tenant's name or settings and in a token's label; 1.1.0 did not look.
-- The step cannot tell a pasted token from data and changes nothing: it
-- reports each row that holds one, by its id (never the text), so that the
-- token can be revoked (revoke_leaked_tenant_token) and the text changed.
-- It looks with tenant_token_find, the UDF that 1.2.0 adds; a server still
-- running the library of 1.1.0 cannot load it, and the step says so.
-- The UDF is made in a statement of its own: a block that calls it must be
-- parsed once it exists.
DELIMITER //
BEGIN NOT ATOMIC
  DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
  IF NOT EXISTS (SELECT 1 FROM mysql.func WHERE name = 'tenant_token_find') THEN
    CREATE FUNCTION tenant_token_find RETURNS INTEGER SONAME 'tenant_auth.so';
  END IF;
END//
BEGIN NOT ATOMIC
  IF NOT EXISTS (SELECT 1 FROM mysql.func WHERE name = 'tenant_token_find') THEN
    SELECT 'tenant_auth upgrade 1.1.0--1.2.0: could not look for tokens in names, labels and settings (the UDF tenant_token_find of 1.2.0 does not load); see docs/operations.md, "Tokens in names, labels and settings"' AS warning;
  ELSEIF EXISTS (SELECT 1 FROM tenants
                  WHERE tenant_token_find(name) > 0 OR tenant_token_find(settings) > 0)
     OR EXISTS (SELECT 1 FROM tenant_tokens WHERE tenant_token_find(label) > 0) THEN
    SELECT CONCAT('tenant_auth upgrade 1.1.0--1.2.0: a token is in ', f.what,
                  ': revoke it and change the text') AS warning
      FROM (SELECT CONCAT('the name of tenant ', id) AS what, 1 AS k
              FROM tenants WHERE tenant_token_find(name) > 0
            UNION ALL
            SELECT CONCAT('the settings of tenant ', id), 2
              FROM tenants WHERE tenant_token_find(settings) > 0
            UNION ALL
            SELECT CONCAT('the label of token ', id), 3
              FROM tenant_tokens WHERE tenant_token_find(label) > 0) f
     ORDER BY f.k, f.what;
  END IF;
END//
DELIMITER ;
