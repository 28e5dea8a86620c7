-- tenant_auth 1.1.0: install into the current database.
--   mariadb tenant_auth_demo < build/sql/install.sql
-- The build writes this file from sql/install.sql.in, with the version of
-- CMake's project(). Idempotent: running it again on an installed database
-- keeps every row; it (re)creates the UDFs, routines and role grants. Needs
-- tenant_auth.so of the same version in the server's plugin_dir. Run as an
-- account that may create functions and roles.
-- Terms: a "token" is the clear 64-character secret, shown once; its SHA-256
-- is the "hash", the only form ever stored.

-- With statement-based binary logging, a statement that carries a token and
-- changes a row would be written to the binary log as it was sent, token
-- included. MIXED and ROW log the changed row instead.
DELIMITER //
BEGIN NOT ATOMIC
  IF @@GLOBAL.log_bin AND @@GLOBAL.binlog_format = 'STATEMENT' THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth: binlog_format=STATEMENT would log tokens; set MIXED or ROW first';
  END IF;
END//
DELIMITER ;

SET @tenant_auth_old_sql_mode = @@SESSION.sql_mode;
-- Routines keep the sql_mode they were created under: strict, so a bad value
-- is an error and never a silent truncation.
SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO';

-- UDFs are server-wide (mysql.func), shared by every database that installs
-- us. A server still running an older tenant_auth.so (the file was replaced,
-- the server was not restarted) answers its old version: the UDFs are dropped
-- here, which unloads the library once none is left, and created again below,
-- which loads the new file. Verifications running in between fail with an
-- error (tenant-authd answers 503), never with a wrong verdict.
DELIMITER //
BEGIN NOT ATOMIC
  IF EXISTS (SELECT 1 FROM mysql.func WHERE name = 'tenant_auth_version') THEN
    IF tenant_auth_version() <> '1.1.0' THEN
      EXECUTE IMMEDIATE 'DROP FUNCTION IF EXISTS tenant_token_generate';
      EXECUTE IMMEDIATE 'DROP FUNCTION IF EXISTS tenant_token_valid';
      EXECUTE IMMEDIATE 'DROP FUNCTION IF EXISTS tenant_token_hash';
      EXECUTE IMMEDIATE 'DROP FUNCTION IF EXISTS tenant_uuid';
      EXECUTE IMMEDIATE 'DROP FUNCTION IF EXISTS tenant_auth_version';
    END IF;
  END IF;
END//
DELIMITER ;
CREATE FUNCTION IF NOT EXISTS tenant_token_generate RETURNS STRING SONAME 'tenant_auth.so';
CREATE FUNCTION IF NOT EXISTS tenant_token_valid RETURNS INTEGER SONAME 'tenant_auth.so';
CREATE FUNCTION IF NOT EXISTS tenant_token_hash RETURNS STRING SONAME 'tenant_auth.so';
CREATE FUNCTION IF NOT EXISTS tenant_uuid RETURNS STRING SONAME 'tenant_auth.so';
CREATE FUNCTION IF NOT EXISTS tenant_auth_version RETURNS STRING SONAME 'tenant_auth.so';
DELIMITER //
BEGIN NOT ATOMIC
  IF tenant_auth_version() <> '1.1.0' THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth: tenant_auth.so in plugin_dir is not version 1.1.0; install the library that came with this script';
  END IF;
END//
DELIMITER ;

CREATE TABLE IF NOT EXISTS tenants (
  id         UUID         NOT NULL,
  name       VARCHAR(255) NOT NULL,
  settings   JSON         NOT NULL DEFAULT '{}',
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                                   ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY tenants_name (name),
  CONSTRAINT tenants_settings_json CHECK (JSON_VALID(settings))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='tenant_auth: one row per tenant';

-- The primary key is the hash: InnoDB clusters rows on it, so verifying a
-- token is one B-tree descent that ends on the whole row (tenant_id,
-- expires_at, revoked_at, last_used_at), with no second lookup.
CREATE TABLE IF NOT EXISTS tenant_tokens (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  tenant_id    UUID            NOT NULL,
  token_hash   BINARY(32)      NOT NULL COMMENT 'SHA-256 of the token',
  label        VARCHAR(255)    NULL DEFAULT NULL,
  hint         CHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
                               COMMENT 'first 8 characters of the token',
  created_at   TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  expires_at   TIMESTAMP(6)    NULL DEFAULT NULL,
  revoked_at   TIMESTAMP(6)    NULL DEFAULT NULL,
  last_used_at TIMESTAMP(6)    NULL DEFAULT NULL,
  PRIMARY KEY (token_hash),
  UNIQUE KEY tenant_tokens_id (id),
  KEY tenant_tokens_tenant (tenant_id),
  CONSTRAINT tenant_tokens_tenant_fk FOREIGN KEY (tenant_id)
    REFERENCES tenants (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='tenant_auth: token hashes; the clear token is never stored';

DELIMITER //

-- Internal: mints a token for p_tenant_id and stores its hash. The clear token
-- only travels in local variables: statements that reach the binary log see
-- the hash and the hint, never the token.
CREATE OR REPLACE PROCEDURE tenant_auth_mint_token(
  IN p_tenant_id UUID, IN p_label VARCHAR(255) CHARACTER SET utf8mb4, IN p_expires_at TIMESTAMP(6),
  OUT o_token_id BIGINT UNSIGNED, OUT o_token CHAR(64) CHARACTER SET ascii)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: store a new token hash, return the token'
BEGIN
  DECLARE v_token CHAR(64) CHARACTER SET ascii DEFAULT tenant_token_generate();
  DECLARE v_hash BINARY(32) DEFAULT tenant_token_hash(v_token);
  DECLARE v_hint CHAR(8) CHARACTER SET ascii DEFAULT LEFT(v_token, 8);
  IF v_hash IS NULL THEN
    SIGNAL SQLSTATE '45000'
      SET MESSAGE_TEXT = 'tenant_auth: the random source failed; no token made';
  END IF;
  INSERT INTO tenant_tokens (tenant_id, token_hash, label, hint, expires_at)
  VALUES (p_tenant_id, v_hash, p_label, v_hint, p_expires_at);
  SET o_token_id = LAST_INSERT_ID();
  SET o_token = v_token;
END//

CREATE OR REPLACE PROCEDURE create_tenant(IN p_name TEXT CHARACTER SET utf8mb4)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Create a tenant and its first token; the token is shown once'
BEGIN
  DECLARE v_tenant_id UUID DEFAULT CONVERT(tenant_uuid() USING ascii);
  DECLARE v_token_id BIGINT UNSIGNED;
  DECLARE v_token CHAR(64) CHARACTER SET ascii;
  DECLARE v_own_txn BOOLEAN DEFAULT (@@in_transaction = 0);
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF v_own_txn THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  IF p_name IS NULL OR p_name REGEXP '^[[:space:]]*$' THEN
    SIGNAL SQLSTATE '45000'
      SET MESSAGE_TEXT = 'create_tenant: name must not be NULL, empty or blank';
  END IF;
  IF CHAR_LENGTH(p_name) > 255 THEN
    SIGNAL SQLSTATE '45000'
      SET MESSAGE_TEXT = 'create_tenant: name must be at most 255 characters';
  END IF;
  IF p_name REGEXP '[[:cntrl:]]' THEN
    SIGNAL SQLSTATE '45000'
      SET MESSAGE_TEXT = 'create_tenant: name must not contain control characters';
  END IF;
  IF tenant_token_valid(p_name) THEN
    SIGNAL SQLSTATE '45000'
      SET MESSAGE_TEXT = 'create_tenant: name must not be a token';
  END IF;
  IF v_own_txn THEN START TRANSACTION; END IF;
  INSERT INTO tenants (id, name) VALUES (v_tenant_id, p_name);
  CALL tenant_auth_mint_token(v_tenant_id, NULL, NULL, v_token_id, v_token);
  IF v_own_txn THEN COMMIT; END IF;
  SELECT v_tenant_id AS tenant_id, p_name AS tenant_name,
         v_token_id AS token_id, v_token AS token;
END//

-- Arguments that name a row or a time are taken as bytes (LONGBLOB) and
-- checked here, so that no error message ever echoes the value: a token
-- pasted into the wrong argument must not come back in an error.
CREATE OR REPLACE PROCEDURE issue_tenant_token(
  IN p_tenant_id LONGBLOB, IN p_label TEXT CHARACTER SET utf8mb4,
  IN p_expires_at LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Issue another token for a tenant; the token is shown once'
BEGIN
  DECLARE v_tenant_id UUID;
  DECLARE v_expires_at TIMESTAMP(6);
  DECLARE v_token_id BIGINT UNSIGNED;
  DECLARE v_token CHAR(64) CHARACTER SET ascii;
  IF p_tenant_id IS NULL OR p_tenant_id NOT REGEXP
     '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$' THEN
    SIGNAL SQLSTATE '45000'
      SET MESSAGE_TEXT = 'issue_tenant_token: tenant_id must be a UUID like 0b6c...-...';
  END IF;
  SET v_tenant_id = CONVERT(p_tenant_id USING ascii);
  IF NOT EXISTS (SELECT 1 FROM tenants WHERE id = v_tenant_id) THEN
    SIGNAL SQLSTATE '45000'
      SET MESSAGE_TEXT = 'issue_tenant_token: no tenant has this id';
  END IF;
  IF CHAR_LENGTH(p_label) > 255 OR p_label REGEXP '[[:cntrl:]]'
     OR tenant_token_valid(p_label) THEN
    SIGNAL SQLSTATE '45000'
      SET MESSAGE_TEXT = 'issue_tenant_token: label must be up to 255 printable characters, not a token';
  END IF;
  IF p_expires_at IS NOT NULL THEN
    IF p_expires_at NOT REGEXP
       '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?$' THEN
      SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'issue_tenant_token: expires_at must be a time like 2027-01-31 12:00:00, or NULL';
    END IF;
    BEGIN
      DECLARE EXIT HANDLER FOR SQLEXCEPTION
        SIGNAL SQLSTATE '45000'
          SET MESSAGE_TEXT = 'issue_tenant_token: expires_at is not a valid time up to 2038-01-19';
      SET v_expires_at = CONVERT(p_expires_at USING ascii);
    END;
    IF v_expires_at <= NOW(6) THEN
      SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'issue_tenant_token: expires_at must be in the future (or NULL)';
    END IF;
  END IF;
  CALL tenant_auth_mint_token(v_tenant_id, p_label, v_expires_at,
                              v_token_id, v_token);
  SELECT v_token_id AS token_id, v_token AS token, v_expires_at AS expires_at;
END//

-- Internal: the token id in p_value (bytes), or an error naming p_routine.
CREATE OR REPLACE FUNCTION tenant_auth_token_id(p_value LONGBLOB,
                                                p_routine VARCHAR(64))
  RETURNS BIGINT UNSIGNED DETERMINISTIC NO SQL SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: parse a token id without echoing it'
BEGIN
  DECLARE v_message VARCHAR(128) DEFAULT CONCAT(p_routine,
    ': token_id must be a whole number, an id of tenant_tokens');
  IF p_value IS NULL OR p_value NOT REGEXP '^[0-9]{1,19}$' THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  RETURN CAST(p_value AS UNSIGNED);
END//

CREATE OR REPLACE PROCEDURE revoke_tenant_token(IN p_token_id LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Revoke a token now; revoking again keeps the first time'
BEGIN
  DECLARE v_id BIGINT UNSIGNED DEFAULT
    tenant_auth_token_id(p_token_id, 'revoke_tenant_token');
  DECLARE v_revoked_at TIMESTAMP(6) DEFAULT NULL;
  DECLARE v_found BOOLEAN DEFAULT FALSE;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;
  UPDATE tenant_tokens SET revoked_at = COALESCE(revoked_at, NOW(6))
   WHERE id = v_id;
  SELECT TRUE, revoked_at INTO v_found, v_revoked_at
    FROM tenant_tokens WHERE id = v_id;
  IF NOT v_found THEN
    SIGNAL SQLSTATE '45000'
      SET MESSAGE_TEXT = 'revoke_tenant_token: no token has this id';
  END IF;
  SELECT v_id AS token_id, v_revoked_at AS revoked_at;
END//

CREATE OR REPLACE PROCEDURE rotate_tenant_token(
  IN p_token_id LONGBLOB, IN p_grace_seconds LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Replace a token: same tenant, label and expiry; old one ends after the grace'
BEGIN
  DECLARE v_id BIGINT UNSIGNED DEFAULT
    tenant_auth_token_id(p_token_id, 'rotate_tenant_token');
  DECLARE v_grace INT;
  DECLARE v_tenant_id UUID;
  DECLARE v_label VARCHAR(255) CHARACTER SET utf8mb4;
  DECLARE v_expires_at TIMESTAMP(6);
  DECLARE v_revoked_at TIMESTAMP(6);
  DECLARE v_found BOOLEAN DEFAULT FALSE;
  DECLARE v_token_id BIGINT UNSIGNED;
  DECLARE v_token CHAR(64) CHARACTER SET ascii;
  DECLARE v_own_txn BOOLEAN DEFAULT (@@in_transaction = 0);
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;
  IF p_grace_seconds IS NULL OR p_grace_seconds NOT REGEXP '^[0-9]{1,8}$'
     OR CAST(p_grace_seconds AS UNSIGNED) > 31536000 THEN
    SIGNAL SQLSTATE '45000'
      SET MESSAGE_TEXT = 'rotate_tenant_token: grace_seconds must be 0 to 31536000';
  END IF;
  SET v_grace = CAST(p_grace_seconds AS UNSIGNED);
  BEGIN
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
      IF v_own_txn THEN ROLLBACK; END IF;
      RESIGNAL;
    END;
    IF v_own_txn THEN START TRANSACTION; END IF;
    SELECT TRUE, tenant_id, label, expires_at, revoked_at
      INTO v_found, v_tenant_id, v_label, v_expires_at, v_revoked_at
      FROM tenant_tokens WHERE id = v_id FOR UPDATE;
    IF NOT v_found THEN
      SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'rotate_tenant_token: no token has this id';
    END IF;
    IF v_revoked_at IS NOT NULL THEN
      SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'rotate_tenant_token: the token is revoked';
    END IF;
    IF v_expires_at IS NOT NULL AND v_expires_at <= NOW(6) THEN
      SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'rotate_tenant_token: the token has expired';
    END IF;
    CALL tenant_auth_mint_token(v_tenant_id, v_label, v_expires_at,
                                v_token_id, v_token);
    UPDATE tenant_tokens
       SET expires_at = IF(expires_at IS NULL
                           OR expires_at > NOW(6) + INTERVAL v_grace SECOND,
                           NOW(6) + INTERVAL v_grace SECOND, expires_at)
     WHERE id = v_id;
    IF v_own_txn THEN COMMIT; END IF;
  END;
  SELECT v_token_id AS token_id, v_token AS token, v_expires_at AS expires_at;
END//

-- The hot path: a plain consistent read, and nothing else. NULL for NULL,
-- malformed (decided by tenant_token_hash alone, without reading the table),
-- unknown, revoked or expired tokens. It writes nothing, so it answers on a
-- read_only server and inside a caller's open transaction without locking a
-- row (at the default REPEATABLE READ; under SERIALIZABLE with autocommit
-- off InnoDB turns every read into a shared-lock read: verify with
-- autocommit on). Time is SYSDATE(6), the server's clock: a session's SET timestamp
-- cannot make an expired token verify. Use is recorded apart, by
-- note_tenant_token_use.
CREATE OR REPLACE FUNCTION verify_tenant_token(p_token LONGBLOB) RETURNS UUID
  NOT DETERMINISTIC READS SQL DATA SQL SECURITY DEFINER
  COMMENT 'Tenant id for a valid token, else NULL'
BEGIN
  DECLARE v_hash BINARY(32) DEFAULT tenant_token_hash(p_token);
  DECLARE v_tenant_id UUID DEFAULT NULL;
  DECLARE v_now TIMESTAMP(6) DEFAULT SYSDATE(6);
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_tenant_id = NULL;
  IF v_hash IS NULL THEN
    -- A well-formed token without a hash means OpenSSL failed: an error,
    -- so that callers answer "unavailable", never "invalid token".
    IF tenant_token_valid(p_token) THEN
      SIGNAL SQLSTATE 'HY000'
        SET MESSAGE_TEXT = 'verify_tenant_token: hashing failed';
    END IF;
    RETURN NULL;
  END IF;
  SELECT tenant_id INTO v_tenant_id
    FROM tenant_tokens
   WHERE token_hash = v_hash AND revoked_at IS NULL
     AND (expires_at IS NULL OR expires_at > v_now);
  RETURN v_tenant_id;
END//

-- Records that tokens were used. p_hashes is their SHA-256 hashes packed
-- end to end: 32 bytes each, no separator, at most 4096 (128 KiB), in any
-- order, duplicates allowed; an empty string notes nothing. Each listed
-- token whose last_used_at is NULL or older than 60 seconds gets the
-- server's time; unknown hashes are ignored. Rows are updated one by one in
-- hash order, in one transaction (the caller's, if one is open), so two
-- calls cannot deadlock. Malformed input is an error that changes nothing.
-- The clear token never travels here: tenant-authd hashes it itself.
CREATE OR REPLACE PROCEDURE note_tenant_token_use(IN p_hashes LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Set last_used_at of tokens by hash (32-byte SHA-256 each, packed)'
BEGIN
  DECLARE v_len BIGINT UNSIGNED DEFAULT LENGTH(p_hashes);
  DECLARE v_now TIMESTAMP(6) DEFAULT SYSDATE(6);
  DECLARE v_own_txn BOOLEAN DEFAULT (@@in_transaction = 0);
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF v_own_txn THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  -- The routine runs with its definer's rights, which may include READ ONLY
  -- ADMIN: a read-only server (a replica) must not take notes that its
  -- primary never made, whoever calls.
  IF @@GLOBAL.read_only THEN
    SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1290, MESSAGE_TEXT =
      'The MariaDB server is running with the --read-only option so it cannot execute this statement';
  END IF;
  IF p_hashes IS NULL THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'note_tenant_token_use: hashes must not be NULL (use an empty string for none)';
  END IF;
  IF v_len MOD 32 <> 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'note_tenant_token_use: hashes must be 32-byte SHA-256 values packed end to end; the length is not a multiple of 32';
  END IF;
  IF v_len > 4096 * 32 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'note_tenant_token_use: at most 4096 hashes (131072 bytes) per call';
  END IF;
  IF v_own_txn THEN START TRANSACTION; END IF;
  -- Positions 0 to 4095 without recursion (a recursive CTE stops silently
  -- at max_recursive_iterations, 1000 by default).
  FOR h IN (
    WITH d (n) AS (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9),
                          (10), (11), (12), (13), (14), (15))
    SELECT DISTINCT CAST(SUBSTRING(p_hashes, (a.n * 256 + b.n * 16 + c.n) * 32 + 1,
                                   32) AS BINARY(32)) AS hash
      FROM d a, d b, d c
     WHERE a.n * 256 + b.n * 16 + c.n < v_len DIV 32
     ORDER BY hash)
  DO
    UPDATE tenant_tokens SET last_used_at = v_now
     WHERE token_hash = h.hash
       AND (last_used_at IS NULL
            OR last_used_at < v_now - INTERVAL 60 SECOND);
  END FOR;
  IF v_own_txn THEN COMMIT; END IF;
END//

-- The version of the routines installed here, the version of CMake's
-- project() this script was made from. tenant_auth_version() is the
-- version of the loaded library; after an upgrade both say the same.
CREATE OR REPLACE FUNCTION tenant_auth_schema_version() RETURNS VARCHAR(32)
  DETERMINISTIC NO SQL SQL SECURITY INVOKER
  COMMENT 'Version of the tenant_auth routines installed in this database'
  RETURN '1.1.0'//

DELIMITER ;

-- Roles. tenant_auth_verifier may only call verify_tenant_token,
-- note_tenant_token_use and tenant_auth_schema_version: it cannot read either
-- table. tenant_auth_admin runs the procedures and reads the tables.
CREATE ROLE IF NOT EXISTS tenant_auth_verifier;
CREATE ROLE IF NOT EXISTS tenant_auth_admin;
DELIMITER //
BEGIN NOT ATOMIC
  DECLARE v_db VARCHAR(200) DEFAULT CONCAT('`', REPLACE(DATABASE(), '`', '``'), '`');
  FOR g IN (
    SELECT 'EXECUTE ON FUNCTION' AS what, 'verify_tenant_token' AS obj, 'tenant_auth_verifier' AS role
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'note_tenant_token_use', 'tenant_auth_verifier'
    UNION ALL SELECT 'EXECUTE ON FUNCTION', 'tenant_auth_schema_version', 'tenant_auth_verifier'
    UNION ALL SELECT 'EXECUTE ON FUNCTION', 'verify_tenant_token', 'tenant_auth_admin'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'note_tenant_token_use', 'tenant_auth_admin'
    UNION ALL SELECT 'EXECUTE ON FUNCTION', 'tenant_auth_schema_version', 'tenant_auth_admin'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'create_tenant', 'tenant_auth_admin'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'issue_tenant_token', 'tenant_auth_admin'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'revoke_tenant_token', 'tenant_auth_admin'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'rotate_tenant_token', 'tenant_auth_admin'
    UNION ALL SELECT 'SELECT ON', 'tenants', 'tenant_auth_admin'
    UNION ALL SELECT 'SELECT ON', 'tenant_tokens', 'tenant_auth_admin')
  DO
    EXECUTE IMMEDIATE CONCAT('GRANT ', g.what, ' ', v_db, '.', g.obj, ' TO ', g.role);
  END FOR;
END//
DELIMITER ;

SET SESSION sql_mode = @tenant_auth_old_sql_mode;
SET @tenant_auth_old_sql_mode = NULL;
