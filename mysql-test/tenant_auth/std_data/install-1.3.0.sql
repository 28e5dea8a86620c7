-- tenant_auth 1.3.0: install into the current database.
--   mariadb tenant_auth_demo < build/sql/install.sql
-- The build writes this file from sql/install.sql.in, with the version of
-- CMake's project(). Idempotent: running it again on an installed database
-- keeps every row; it (re)creates the UDFs, routines and role grants. Needs
-- tenant_auth.so of the same version in the server's plugin_dir. Run as an
-- account that may create functions and roles.
-- Terms: a "token" is the clear 64-character secret, shown once; its SHA-256
-- is the "hash", the only form ever stored.
--
-- Roles: this installation's two roles are named <prefix>_admin and
-- <prefix>_verifier. The prefix is @tenant_auth_roles when set, else the one
-- this database had, else tenant_auth. A second installation on the same
-- server needs its own prefix (install.sql refuses roles that already serve
-- another database):
--   mariadb --init-command="SET @tenant_auth_roles = 'billing_auth'" billing < build/sql/install.sql
-- Installing again with another prefix moves the installation to new roles:
-- every account that held an old role gets the new one (and its default
-- role follows), and the old roles lose this database.

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

-- verify_tenant_token_hashes numbers the hashes it is given with the
-- Sequence engine (seq_0_to_255), built into MariaDB and on unless a server
-- was started with --skip-sequence.
DELIMITER //
BEGIN NOT ATOMIC
  IF NOT EXISTS (SELECT 1 FROM information_schema.engines
                  WHERE engine = 'SEQUENCE' AND support IN ('YES', 'DEFAULT')) THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth: the Sequence engine is off; start the server without --skip-sequence first';
  END IF;
END//
DELIMITER ;

-- The roles' prefix, checked and decided before anything is created.
DELIMITER //
BEGIN NOT ATOMIC
  DECLARE v_old VARCHAR(64) DEFAULT NULL;
  DECLARE v_new VARCHAR(64);
  DECLARE v_other VARCHAR(64) DEFAULT NULL;
  DECLARE v_message VARCHAR(512);
  IF EXISTS (SELECT 1 FROM information_schema.routines
              WHERE routine_schema = DATABASE()
                AND routine_name = 'tenant_auth_role_prefix') THEN
    SET v_old = tenant_auth_role_prefix();
  ELSEIF EXISTS (SELECT 1 FROM information_schema.routines
                  WHERE routine_schema = DATABASE()
                    AND routine_name = 'verify_tenant_token') THEN
    SET v_old = 'tenant_auth';  -- 1.0.0 and 1.1.0 had these names only
  END IF;
  IF @tenant_auth_roles IS NOT NULL
     AND (LENGTH(@tenant_auth_roles) > 32
          OR CAST(@tenant_auth_roles AS BINARY) NOT REGEXP '^[a-z][a-z0-9_]*\\z') THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth: @tenant_auth_roles must be 1 to 32 characters a-z, 0-9 and _, starting with a letter';
  END IF;
  SET v_new = COALESCE(CONVERT(@tenant_auth_roles USING ascii), v_old, 'tenant_auth');
  SELECT MIN(db) INTO v_other FROM (
    SELECT Db AS db FROM mysql.procs_priv
     WHERE Host = '' AND User IN (CONCAT(v_new, '_admin'), CONCAT(v_new, '_verifier'))
    UNION ALL SELECT Db FROM mysql.tables_priv
     WHERE Host = '' AND User IN (CONCAT(v_new, '_admin'), CONCAT(v_new, '_verifier'))
    UNION ALL SELECT Db FROM mysql.db
     WHERE Host = '' AND User IN (CONCAT(v_new, '_admin'), CONCAT(v_new, '_verifier'))) g
   WHERE db <> DATABASE();
  IF v_other IS NOT NULL THEN
    SET v_message = CONCAT('tenant_auth: roles ', v_new, '_admin and ', v_new,
      '_verifier already serve database ', v_other,
      '; SET @tenant_auth_roles to a prefix of this installation''s own first');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  IF EXISTS (SELECT 1 FROM mysql.user WHERE is_role = 'N' AND host = ''
                AND user IN (CONCAT(v_new, '_admin'), CONCAT(v_new, '_verifier'))) THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth: an account (not a role) already has one of the role names; SET @tenant_auth_roles to another prefix';
  END IF;
  -- A role of these names that exists already must be this installation's
  -- own: installing again or upgrading, where tenant_auth_role_prefix()
  -- here (1.2.0 on) or the fixed names of 1.0.0 and 1.1.0 record that we
  -- made it. Any other role has rights and holders of its own: taking it
  -- over would hand the routines to whoever holds it.
  IF (v_old IS NULL OR v_old <> v_new)
     AND EXISTS (SELECT 1 FROM mysql.user WHERE is_role = 'Y'
                  AND user IN (CONCAT(v_new, '_admin'), CONCAT(v_new, '_verifier'))) THEN
    SET v_message = CONCAT('tenant_auth: role ', v_new, '_admin or ', v_new,
      '_verifier exists already and this installation did not make it; drop it, or SET @tenant_auth_roles to another prefix');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  SET @tenant_auth_roles_old = v_old, @tenant_auth_roles_new = v_new;
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
    IF tenant_auth_version() <> '1.3.0' THEN
      FOR f IN (SELECT name FROM mysql.func WHERE name IN ('tenant_token_generate', 'tenant_token_valid', 'tenant_token_hash', 'tenant_token_find', 'tenant_uuid', 'tenant_auth_version')) DO
        EXECUTE IMMEDIATE CONCAT('DROP FUNCTION IF EXISTS ', f.name);
      END FOR;
    END IF;
  END IF;
END//
DELIMITER ;
CREATE FUNCTION IF NOT EXISTS tenant_token_generate RETURNS STRING SONAME 'tenant_auth.so';
CREATE FUNCTION IF NOT EXISTS tenant_token_valid RETURNS INTEGER SONAME 'tenant_auth.so';
CREATE FUNCTION IF NOT EXISTS tenant_token_hash RETURNS STRING SONAME 'tenant_auth.so';
CREATE FUNCTION IF NOT EXISTS tenant_token_find RETURNS INTEGER SONAME 'tenant_auth.so';
CREATE FUNCTION IF NOT EXISTS tenant_uuid RETURNS STRING SONAME 'tenant_auth.so';
CREATE FUNCTION IF NOT EXISTS tenant_auth_version RETURNS STRING SONAME 'tenant_auth.so';
DELIMITER //
BEGIN NOT ATOMIC
  IF tenant_auth_version() <> '1.3.0' THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth: tenant_auth.so in plugin_dir is not version 1.3.0; install the library that came with this script';
  END IF;
END//
DELIMITER ;

-- The routines write every time from SYSDATE(6), the server's clock; the
-- columns' defaults serve only rows written by hand.
CREATE TABLE IF NOT EXISTS tenants (
  id         UUID         NOT NULL,
  name       VARCHAR(255) NOT NULL,
  settings   JSON         NOT NULL DEFAULT '{}',
  suspended_at TIMESTAMP(6) NULL DEFAULT NULL,
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
-- expires_at, revoked_at, abilities, last_used_at), with no second lookup
-- there; the tenant's row (suspended_at) is one primary-key lookup more.
CREATE TABLE IF NOT EXISTS tenant_tokens (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  tenant_id    UUID            NOT NULL,
  token_hash   BINARY(32)      NOT NULL COMMENT 'SHA-256 of the token',
  label        VARCHAR(255)    NULL DEFAULT NULL,
  hint         CHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
                               COMMENT 'first 8 characters of the token',
  abilities    JSON            NOT NULL DEFAULT '["*"]'
                               COMMENT 'what the token may do: ability names and patterns',
  created_at   TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  expires_at   TIMESTAMP(6)    NULL DEFAULT NULL,
  revoked_at   TIMESTAMP(6)    NULL DEFAULT NULL,
  last_used_at TIMESTAMP(6)    NULL DEFAULT NULL,
  PRIMARY KEY (token_hash),
  UNIQUE KEY tenant_tokens_id (id),
  KEY tenant_tokens_tenant (tenant_id),
  KEY tenant_tokens_revoked (revoked_at),
  KEY tenant_tokens_expires (expires_at),
  CONSTRAINT tenant_tokens_abilities_json CHECK (JSON_VALID(abilities)),
  CONSTRAINT tenant_tokens_tenant_fk FOREIGN KEY (tenant_id)
    REFERENCES tenants (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='tenant_auth: token hashes; the clear token is never stored';

-- Tables of an older version are upgraded by the steps in sql/upgrade/, not
-- here: refuse to put these routines on the tables of an older version.
DELIMITER //
BEGIN NOT ATOMIC
  IF (SELECT COUNT(*) FROM information_schema.columns
       WHERE table_schema = DATABASE()
         AND ((table_name = 'tenant_tokens' AND column_name = 'abilities')
              OR (table_name = 'tenants' AND column_name = 'suspended_at'))) <> 2 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth: the tables here are of an older version; run the steps of sql/upgrade/ up to 1.2.0--1.3.0.sql first';
  END IF;
END//
DELIMITER ;

-- Every change made through the routines, one row each, written in the same
-- transaction as the change. account is USER() of the session that called
-- (CURRENT_USER() inside these SQL SECURITY DEFINER routines is the definer).
-- Times are the server's clock (SYSDATE), never a session's SET timestamp.
-- No token and no hash is ever written here. No shipped role may change it;
-- purge_tenant_auth_audit deletes old rows, and says so in a row of its own.
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


DELIMITER //

-- Validation patterns end in \z, never $: MariaDB's $ also matches before
-- a final newline, and no checked value may hold one.

-- Internal: every routine that writes calls this first. A read_only server
-- (a replica) takes no change through the routines, whoever calls: they
-- run with their definer's rights, which read_only lets through (READ ONLY
-- ADMIN), and a change made on a replica (a revocation) would hold on that
-- replica only. Error 1290 (ER_OPTION_PREVENTS_STATEMENT) naming p_routine.
-- A replica's applier is not stopped: it applies rows, and never calls a
-- routine.
CREATE OR REPLACE PROCEDURE tenant_auth_require_writable(IN p_routine VARCHAR(64))
  NO SQL SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: refuse to write on a read_only server'
BEGIN
  DECLARE v_message VARCHAR(200);
  IF @@GLOBAL.read_only THEN
    SET v_message = CONCAT(p_routine,
      ': the server is read_only; make changes on a writable server (the primary)');
    SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1290, MESSAGE_TEXT = v_message;
  END IF;
END//

-- Internal: why p_value may not be stored as a name or label (at most
-- p_max characters, printable, holding no well-formed token anywhere), or
-- NULL when it may. NULL itself is the caller's decision.
CREATE OR REPLACE FUNCTION tenant_auth_text_problem(
  p_value TEXT CHARACTER SET utf8mb4, p_max INT)
  RETURNS VARCHAR(64) CHARACTER SET ascii DETERMINISTIC NO SQL SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: check a name or label'
BEGIN
  IF CHAR_LENGTH(p_value) > p_max THEN
    RETURN CONCAT('must be at most ', p_max, ' characters');
  END IF;
  IF p_value REGEXP '[[:cntrl:]]' THEN
    RETURN 'must not contain control characters';
  END IF;
  IF tenant_token_find(p_value) > 0 THEN
    RETURN 'must not contain a token';
  END IF;
  RETURN NULL;
END//

-- Internal: a tenant's name as given, or an error naming p_routine.
CREATE OR REPLACE FUNCTION tenant_auth_tenant_name(
  p_value TEXT CHARACTER SET utf8mb4, p_routine VARCHAR(64))
  RETURNS VARCHAR(255) CHARACTER SET utf8mb4 DETERMINISTIC NO SQL SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: check a tenant name'
BEGIN
  DECLARE v_problem VARCHAR(64) CHARACTER SET ascii;
  DECLARE v_message VARCHAR(128);
  IF p_value IS NULL OR p_value REGEXP '^[[:space:]]*\\z' THEN
    SET v_message = CONCAT(p_routine, ': name must not be NULL, empty or blank');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  SET v_problem = tenant_auth_text_problem(p_value, 255);
  IF v_problem IS NOT NULL THEN
    SET v_message = CONCAT(p_routine, ': name ', v_problem);
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  RETURN p_value;
END//

-- Internal: the id of an existing tenant from p_value (bytes), or an error
-- naming p_routine; the value is never echoed.
CREATE OR REPLACE FUNCTION tenant_auth_tenant_id(p_value LONGBLOB,
                                                 p_routine VARCHAR(64))
  RETURNS UUID NOT DETERMINISTIC READS SQL DATA SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: parse the id of an existing tenant'
BEGIN
  DECLARE v_id UUID;
  DECLARE v_message VARCHAR(128);
  IF p_value IS NULL OR p_value NOT REGEXP
     '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\\z' THEN
    SET v_message = CONCAT(p_routine, ': tenant_id must be a UUID like 0b6c...-...');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  SET v_id = CONVERT(p_value USING ascii);
  IF NOT EXISTS (SELECT 1 FROM tenants WHERE id = v_id) THEN
    SET v_message = CONCAT(p_routine, ': no tenant has this id');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  RETURN v_id;
END//

-- Internal: a set of abilities from p_value (bytes): a JSON array of at
-- most 64 distinct patterns, each "*", an ability name, or a name followed
-- by ":*". Returned sorted, without duplicates; an error naming p_routine
-- otherwise. The grammar, in docs/sql-reference.md:
--   name    = segment *( ":" segment ), at most 64 characters
--   segment = [a-z] *[a-z0-9_-]
--   pattern = "*" / name / name ":*"
CREATE OR REPLACE FUNCTION tenant_auth_abilities(p_value LONGBLOB,
                                                 p_routine VARCHAR(64))
  RETURNS VARCHAR(4500) CHARACTER SET ascii DETERMINISTIC CONTAINS SQL SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: check and normalise a set of abilities'
BEGIN
  DECLARE v_message VARCHAR(256) DEFAULT CONCAT(p_routine,
    ': abilities must be a JSON array of up to 64 patterns like ["metrics:write", "reports:*"] or ["*"]');
  DECLARE v_json LONGTEXT CHARACTER SET utf8mb4;
  DECLARE v_n INT;
  DECLARE v_i INT DEFAULT 0;
  DECLARE v_item LONGTEXT CHARACTER SET utf8mb4;
  DECLARE v_result VARCHAR(4500) CHARACTER SET ascii;
  IF p_value IS NULL OR LENGTH(p_value) > 8192
     OR CONVERT(CONVERT(p_value USING utf8mb4) USING binary) <> p_value THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  SET v_json = CONVERT(p_value USING utf8mb4);
  IF NOT JSON_VALID(v_json) OR JSON_TYPE(v_json) <> 'ARRAY'
     OR JSON_LENGTH(v_json) > 64 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  SET v_n = JSON_LENGTH(v_json);
  WHILE v_i < v_n DO
    SET v_item = JSON_EXTRACT(v_json, CONCAT('$[', v_i, ']'));
    IF JSON_TYPE(v_item) <> 'STRING' THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    SET v_item = JSON_UNQUOTE(v_item);
    IF LENGTH(v_item) > 64 OR CAST(v_item AS BINARY) NOT REGEXP
       '^([*]|[a-z][a-z0-9_-]*(:[a-z][a-z0-9_-]*)*(:[*])?)\\z' THEN
      SET v_message = CONCAT(p_routine,
        ': each ability must be "*", a name like metrics:write (a-z, 0-9, _ and -, segments joined by :, up to 64 characters) or a name followed by :*');
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    SET v_i = v_i + 1;
  END WHILE;
  SELECT JSON_ARRAYAGG(DISTINCT a ORDER BY a) INTO v_result
    FROM JSON_TABLE(v_json, '$[*]' COLUMNS (a VARCHAR(64) CHARACTER SET ascii PATH '$')) j;
  RETURN COALESCE(v_result, '[]');
END//

-- Internal: settings JSON from p_value (bytes): a JSON object of at most
-- 65535 bytes of UTF-8 holding no token, or an error naming p_routine.
CREATE OR REPLACE FUNCTION tenant_auth_settings(p_value LONGBLOB,
                                                p_routine VARCHAR(64))
  RETURNS LONGTEXT CHARACTER SET utf8mb4 DETERMINISTIC NO SQL SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: check settings JSON'
BEGIN
  DECLARE v_message VARCHAR(160) DEFAULT CONCAT(p_routine,
    ': settings must be a JSON object of at most 65535 bytes of UTF-8');
  DECLARE v_json LONGTEXT CHARACTER SET utf8mb4;
  IF p_value IS NULL OR LENGTH(p_value) > 65535
     OR CONVERT(CONVERT(p_value USING utf8mb4) USING binary) <> p_value THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  SET v_json = CONVERT(p_value USING utf8mb4);
  IF NOT JSON_VALID(v_json) OR JSON_TYPE(v_json) <> 'OBJECT' THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  IF tenant_token_find(v_json) > 0 THEN
    SET v_message = CONCAT(p_routine, ': settings must not contain a token');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  RETURN v_json;
END//

-- Internal: appends one row to the audit trail, in the caller's
-- transaction. p_details is JSON made by the routines from checked values
-- (numbers from local variables are written as v + 0: JSON_OBJECT makes a
-- string of a bare routine variable);
-- a token in it is refused all the same.
CREATE OR REPLACE PROCEDURE tenant_auth_audit_write(
  IN p_action VARCHAR(32) CHARACTER SET ascii, IN p_tenant_id UUID,
  IN p_token_id BIGINT UNSIGNED, IN p_details LONGTEXT CHARACTER SET utf8mb4)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: append a row to tenant_auth_audit'
BEGIN
  CALL tenant_auth_require_writable('tenant_auth_audit_write');
  IF tenant_token_find(p_details) > 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth_audit_write: details must not contain a token';
  END IF;
  INSERT INTO tenant_auth_audit (at, account, action, tenant_id, token_id, details)
  VALUES (SYSDATE(6), USER(), p_action, p_tenant_id, p_token_id,
          COALESCE(p_details, '{}'));
END//

-- Internal: mints a token for p_tenant_id and stores its hash. The clear token
-- only travels in local variables: statements that reach the binary log see
-- the hash and the hint, never the token.
CREATE OR REPLACE PROCEDURE tenant_auth_mint_token(
  IN p_tenant_id UUID, IN p_label VARCHAR(255) CHARACTER SET utf8mb4, IN p_expires_at TIMESTAMP(6),
  IN p_abilities VARCHAR(4500) CHARACTER SET ascii,
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
  INSERT INTO tenant_tokens (tenant_id, token_hash, label, hint, expires_at,
                             abilities, created_at)
  VALUES (p_tenant_id, v_hash, p_label, v_hint, p_expires_at, p_abilities,
          SYSDATE(6));
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
  DECLARE v_name VARCHAR(255) CHARACTER SET utf8mb4;
  DECLARE v_own_txn BOOLEAN DEFAULT (@@in_transaction = 0);
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF v_own_txn THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  CALL tenant_auth_require_writable('create_tenant');
  SET v_name = tenant_auth_tenant_name(p_name, 'create_tenant');
  IF v_own_txn THEN START TRANSACTION; END IF;
  INSERT INTO tenants (id, name, created_at, updated_at)
  VALUES (v_tenant_id, v_name, SYSDATE(6), SYSDATE(6));
  CALL tenant_auth_audit_write('tenant_created', v_tenant_id, NULL,
                               JSON_OBJECT('name', v_name));
  CALL tenant_auth_mint_token(v_tenant_id, NULL, NULL, '["*"]', v_token_id, v_token);
  CALL tenant_auth_audit_write('token_issued', v_tenant_id, v_token_id,
    JSON_OBJECT('label', NULL, 'expires_at', NULL, 'abilities', JSON_ARRAY('*')));
  IF v_own_txn THEN COMMIT; END IF;
  SELECT v_tenant_id AS tenant_id, v_name AS tenant_name,
         v_token_id AS token_id, v_token AS token;
END//

-- Internal: issue_tenant_token and issue_tenant_token_with_abilities.
-- Arguments that name a row or a time are taken as bytes (LONGBLOB) and
-- checked here, so that no error message ever echoes the value: a token
-- pasted into the wrong argument must not come back in an error.
CREATE OR REPLACE PROCEDURE tenant_auth_issue(
  IN p_routine VARCHAR(64), IN p_tenant_id LONGBLOB,
  IN p_label TEXT CHARACTER SET utf8mb4, IN p_expires_at LONGBLOB,
  IN p_abilities LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: issue a token'
BEGIN
  DECLARE v_tenant_id UUID;
  DECLARE v_expires_at TIMESTAMP(6);
  DECLARE v_abilities VARCHAR(4500) CHARACTER SET ascii;
  DECLARE v_token_id BIGINT UNSIGNED;
  DECLARE v_token CHAR(64) CHARACTER SET ascii;
  DECLARE v_message VARCHAR(160);
  DECLARE v_own_txn BOOLEAN DEFAULT (@@in_transaction = 0);
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF v_own_txn THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  CALL tenant_auth_require_writable(p_routine);
  SET v_tenant_id = tenant_auth_tenant_id(p_tenant_id, p_routine);
  IF tenant_auth_text_problem(p_label, 255) IS NOT NULL THEN
    SET v_message = CONCAT(p_routine,
      ': label must be up to 255 printable characters, holding no token');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  IF p_expires_at IS NOT NULL THEN
    IF p_expires_at NOT REGEXP
       '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?\\z' THEN
      SET v_message = CONCAT(p_routine,
        ': expires_at must be a time like 2027-01-31 12:00:00, or NULL');
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    BEGIN
      DECLARE EXIT HANDLER FOR SQLEXCEPTION
      BEGIN
        SET v_message = CONCAT(p_routine,
          ': expires_at is not a valid time up to 2038-01-19');
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
      END;
      SET v_expires_at = CONVERT(p_expires_at USING ascii);
    END;
    IF v_expires_at <= SYSDATE(6) THEN
      SET v_message = CONCAT(p_routine,
        ': expires_at must be in the future (or NULL)');
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
  END IF;
  SET v_abilities = tenant_auth_abilities(p_abilities, p_routine);
  IF v_own_txn THEN START TRANSACTION; END IF;
  CALL tenant_auth_mint_token(v_tenant_id, p_label, v_expires_at, v_abilities,
                              v_token_id, v_token);
  CALL tenant_auth_audit_write('token_issued', v_tenant_id, v_token_id,
    JSON_OBJECT('label', p_label, 'expires_at', v_expires_at,
                'abilities', JSON_EXTRACT(v_abilities, '$')));
  IF v_own_txn THEN COMMIT; END IF;
  IF p_routine = 'issue_tenant_token' THEN
    -- The result of 1.1.0, unchanged.
    SELECT v_token_id AS token_id, v_token AS token, v_expires_at AS expires_at;
  ELSE
    SELECT v_token_id AS token_id, v_token AS token, v_expires_at AS expires_at,
           v_abilities AS abilities;
  END IF;
END//

CREATE OR REPLACE PROCEDURE issue_tenant_token(
  IN p_tenant_id LONGBLOB, IN p_label TEXT CHARACTER SET utf8mb4,
  IN p_expires_at LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Issue another token for a tenant, with every ability; shown once'
  CALL tenant_auth_issue('issue_tenant_token', p_tenant_id, p_label,
                         p_expires_at, '["*"]')//

CREATE OR REPLACE PROCEDURE issue_tenant_token_with_abilities(
  IN p_tenant_id LONGBLOB, IN p_label TEXT CHARACTER SET utf8mb4,
  IN p_expires_at LONGBLOB, IN p_abilities LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Issue a token with a set of abilities (NULL: ["*"]); shown once'
  CALL tenant_auth_issue('issue_tenant_token_with_abilities', p_tenant_id,
                         p_label, p_expires_at, COALESCE(p_abilities, '["*"]'))//

-- Internal: the token id in p_value (bytes), or an error naming p_routine.
CREATE OR REPLACE FUNCTION tenant_auth_token_id(p_value LONGBLOB,
                                                p_routine VARCHAR(64))
  RETURNS BIGINT UNSIGNED DETERMINISTIC NO SQL SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: parse a token id without echoing it'
BEGIN
  DECLARE v_message VARCHAR(128) DEFAULT CONCAT(p_routine,
    ': token_id must be a whole number, an id of tenant_tokens');
  IF p_value IS NULL OR p_value NOT REGEXP '^[0-9]{1,19}\\z' THEN
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
  DECLARE v_tenant_id UUID;
  DECLARE v_found BOOLEAN DEFAULT FALSE;
  DECLARE v_own_txn BOOLEAN DEFAULT (@@in_transaction = 0);
  DECLARE v_errno INT UNSIGNED;
  DECLARE v_tries INT UNSIGNED DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;
  CALL tenant_auth_require_writable('revoke_tenant_token');
  -- A revocation must not fail because tenant-authd noted the token's use
  -- at the same moment on another Galera node: that conflict (error 1213)
  -- is tried again, in our own transaction only.
  attempts: LOOP
    BEGIN
      DECLARE EXIT HANDLER FOR SQLEXCEPTION
      BEGIN
        GET DIAGNOSTICS CONDITION 1 v_errno = MYSQL_ERRNO;
        IF v_own_txn THEN ROLLBACK; END IF;
        SET v_tries = v_tries + 1;
        IF NOT v_own_txn OR v_errno <> 1213 OR v_tries >= 5 THEN RESIGNAL; END IF;
      END;
      IF v_own_txn THEN START TRANSACTION; END IF;
      SELECT TRUE, tenant_id, revoked_at INTO v_found, v_tenant_id, v_revoked_at
        FROM tenant_tokens WHERE id = v_id FOR UPDATE;
      IF NOT v_found THEN
        SIGNAL SQLSTATE '45000'
          SET MESSAGE_TEXT = 'revoke_tenant_token: no token has this id';
      END IF;
      IF v_revoked_at IS NULL THEN
        SET v_revoked_at = SYSDATE(6);
        UPDATE tenant_tokens SET revoked_at = v_revoked_at WHERE id = v_id;
        CALL tenant_auth_audit_write('token_revoked', v_tenant_id, v_id, '{}');
      END IF;
      IF v_own_txn THEN COMMIT; END IF;
      LEAVE attempts;
    END;
  END LOOP;
  SELECT v_id AS token_id, v_revoked_at AS revoked_at;
END//

CREATE OR REPLACE PROCEDURE rotate_tenant_token(
  IN p_token_id LONGBLOB, IN p_grace_seconds LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Replace a token: same tenant, label, expiry and abilities; old one ends after the grace'
BEGIN
  DECLARE v_id BIGINT UNSIGNED DEFAULT
    tenant_auth_token_id(p_token_id, 'rotate_tenant_token');
  DECLARE v_grace INT;
  DECLARE v_tenant_id UUID;
  DECLARE v_label VARCHAR(255) CHARACTER SET utf8mb4;
  DECLARE v_expires_at TIMESTAMP(6);
  DECLARE v_revoked_at TIMESTAMP(6);
  DECLARE v_abilities VARCHAR(4500) CHARACTER SET ascii;
  DECLARE v_found BOOLEAN DEFAULT FALSE;
  DECLARE v_token_id BIGINT UNSIGNED;
  DECLARE v_token CHAR(64) CHARACTER SET ascii;
  DECLARE v_own_txn BOOLEAN DEFAULT (@@in_transaction = 0);
  DECLARE v_now TIMESTAMP(6);
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;
  CALL tenant_auth_require_writable('rotate_tenant_token');
  IF p_grace_seconds IS NULL OR p_grace_seconds NOT REGEXP '^[0-9]{1,8}\\z'
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
    SELECT TRUE, tenant_id, label, expires_at, revoked_at, abilities
      INTO v_found, v_tenant_id, v_label, v_expires_at, v_revoked_at, v_abilities
      FROM tenant_tokens WHERE id = v_id FOR UPDATE;
    IF NOT v_found THEN
      SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'rotate_tenant_token: no token has this id';
    END IF;
    IF v_revoked_at IS NOT NULL THEN
      SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'rotate_tenant_token: the token is revoked';
    END IF;
    SET v_now = SYSDATE(6);
    IF v_expires_at IS NOT NULL AND v_expires_at <= v_now THEN
      SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'rotate_tenant_token: the token has expired';
    END IF;
    CALL tenant_auth_mint_token(v_tenant_id, v_label, v_expires_at, v_abilities,
                                v_token_id, v_token);
    UPDATE tenant_tokens
       SET expires_at = IF(expires_at IS NULL
                           OR expires_at > v_now + INTERVAL v_grace SECOND,
                           v_now + INTERVAL v_grace SECOND, expires_at)
     WHERE id = v_id;
    CALL tenant_auth_audit_write('token_rotated', v_tenant_id, v_token_id,
      JSON_OBJECT('old_token_id', v_id + 0, 'grace_seconds', v_grace + 0,
                  'abilities', JSON_EXTRACT(v_abilities, '$')));
    IF v_own_txn THEN COMMIT; END IF;
  END;
  SELECT v_token_id AS token_id, v_token AS token, v_expires_at AS expires_at;
END//

CREATE OR REPLACE PROCEDURE set_tenant_token_abilities(
  IN p_token_id LONGBLOB, IN p_abilities LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Replace the set of abilities of a token'
BEGIN
  DECLARE v_id BIGINT UNSIGNED DEFAULT
    tenant_auth_token_id(p_token_id, 'set_tenant_token_abilities');
  DECLARE v_abilities VARCHAR(4500) CHARACTER SET ascii DEFAULT
    tenant_auth_abilities(p_abilities, 'set_tenant_token_abilities');
  DECLARE v_old VARCHAR(4500) CHARACTER SET ascii;
  DECLARE v_tenant_id UUID;
  DECLARE v_found BOOLEAN DEFAULT FALSE;
  DECLARE v_own_txn BOOLEAN DEFAULT (@@in_transaction = 0);
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;
  CALL tenant_auth_require_writable('set_tenant_token_abilities');
  BEGIN
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
      IF v_own_txn THEN ROLLBACK; END IF;
      RESIGNAL;
    END;
    IF v_own_txn THEN START TRANSACTION; END IF;
    SELECT TRUE, tenant_id, abilities INTO v_found, v_tenant_id, v_old
      FROM tenant_tokens WHERE id = v_id FOR UPDATE;
    IF NOT v_found THEN
      SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'set_tenant_token_abilities: no token has this id';
    END IF;
    IF NOT (v_old <=> v_abilities) THEN
      UPDATE tenant_tokens SET abilities = v_abilities WHERE id = v_id;
      CALL tenant_auth_audit_write('token_abilities_changed', v_tenant_id, v_id,
        JSON_OBJECT('from', JSON_EXTRACT(v_old, '$'),
                    'to', JSON_EXTRACT(v_abilities, '$')));
    END IF;
    IF v_own_txn THEN COMMIT; END IF;
  END;
  SELECT v_id AS token_id, v_abilities AS abilities;
END//

-- Tenant lifecycle. Each procedure changes one tenant in one transaction
-- (the caller's when one is open) together with its audit row.

-- Internal: suspend (p_suspend) or resume a tenant.
CREATE OR REPLACE PROCEDURE tenant_auth_suspend(
  IN p_routine VARCHAR(64), IN p_tenant_id LONGBLOB, IN p_suspend BOOLEAN)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: suspend or resume a tenant'
BEGIN
  DECLARE v_id UUID DEFAULT tenant_auth_tenant_id(p_tenant_id, p_routine);
  DECLARE v_at TIMESTAMP(6);
  DECLARE v_own_txn BOOLEAN DEFAULT (@@in_transaction = 0);
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF v_own_txn THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  CALL tenant_auth_require_writable(p_routine);
  IF v_own_txn THEN START TRANSACTION; END IF;
  SELECT suspended_at INTO v_at FROM tenants WHERE id = v_id FOR UPDATE;
  IF p_suspend AND v_at IS NULL THEN
    SET v_at = SYSDATE(6);
    UPDATE tenants SET suspended_at = v_at, updated_at = v_at WHERE id = v_id;
    CALL tenant_auth_audit_write('tenant_suspended', v_id, NULL, '{}');
  ELSEIF NOT p_suspend AND v_at IS NOT NULL THEN
    SET v_at = NULL;
    UPDATE tenants SET suspended_at = NULL, updated_at = SYSDATE(6)
     WHERE id = v_id;
    CALL tenant_auth_audit_write('tenant_resumed', v_id, NULL, '{}');
  END IF;
  IF v_own_txn THEN COMMIT; END IF;
  SELECT v_id AS tenant_id, v_at AS suspended_at;
END//

CREATE OR REPLACE PROCEDURE suspend_tenant(IN p_tenant_id LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Suspend a tenant: its tokens fail until it is resumed'
  CALL tenant_auth_suspend('suspend_tenant', p_tenant_id, TRUE)//

CREATE OR REPLACE PROCEDURE resume_tenant(IN p_tenant_id LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Resume a suspended tenant: its tokens verify again'
  CALL tenant_auth_suspend('resume_tenant', p_tenant_id, FALSE)//

CREATE OR REPLACE PROCEDURE rename_tenant(IN p_tenant_id LONGBLOB,
                                          IN p_name TEXT CHARACTER SET utf8mb4)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Give a tenant another name'
BEGIN
  DECLARE v_id UUID DEFAULT tenant_auth_tenant_id(p_tenant_id, 'rename_tenant');
  DECLARE v_name VARCHAR(255) CHARACTER SET utf8mb4 DEFAULT
    tenant_auth_tenant_name(p_name, 'rename_tenant');
  DECLARE v_old VARCHAR(255) CHARACTER SET utf8mb4;
  DECLARE v_own_txn BOOLEAN DEFAULT (@@in_transaction = 0);
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF v_own_txn THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  CALL tenant_auth_require_writable('rename_tenant');
  IF v_own_txn THEN START TRANSACTION; END IF;
  SELECT name INTO v_old FROM tenants WHERE id = v_id FOR UPDATE;
  IF CAST(v_old AS BINARY) <> CAST(v_name AS BINARY) THEN
    UPDATE tenants SET name = v_name, updated_at = SYSDATE(6) WHERE id = v_id;
    CALL tenant_auth_audit_write('tenant_renamed', v_id, NULL,
                                 JSON_OBJECT('from', v_old, 'to', v_name));
  END IF;
  IF v_own_txn THEN COMMIT; END IF;
  SELECT v_id AS tenant_id, v_name AS tenant_name;
END//

-- Internal: replace (p_merge false) or merge (RFC 7396 JSON merge patch:
-- a key set to null is removed) a tenant's settings.
CREATE OR REPLACE PROCEDURE tenant_auth_settings_change(
  IN p_routine VARCHAR(64), IN p_tenant_id LONGBLOB, IN p_value LONGBLOB,
  IN p_merge BOOLEAN)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: replace or merge settings'
BEGIN
  DECLARE v_id UUID DEFAULT tenant_auth_tenant_id(p_tenant_id, p_routine);
  DECLARE v_given LONGTEXT CHARACTER SET utf8mb4 DEFAULT
    tenant_auth_settings(p_value, p_routine);
  DECLARE v_old LONGTEXT CHARACTER SET utf8mb4;
  DECLARE v_new LONGTEXT CHARACTER SET utf8mb4;
  DECLARE v_own_txn BOOLEAN DEFAULT (@@in_transaction = 0);
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF v_own_txn THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  CALL tenant_auth_require_writable(p_routine);
  IF v_own_txn THEN START TRANSACTION; END IF;
  SELECT settings INTO v_old FROM tenants WHERE id = v_id FOR UPDATE;
  SET v_new = IF(p_merge, JSON_MERGE_PATCH(v_old, v_given), v_given);
  -- What is stored is checked as what was given: a merge may grow it.
  SET v_new = tenant_auth_settings(CAST(v_new AS BINARY), p_routine);
  UPDATE tenants SET settings = v_new, updated_at = SYSDATE(6) WHERE id = v_id;
  CALL tenant_auth_audit_write('tenant_settings_changed', v_id, NULL,
    JSON_OBJECT('mode', IF(p_merge, 'merge', 'replace'),
                'given', JSON_EXTRACT(v_given, '$')));
  IF v_own_txn THEN COMMIT; END IF;
  SELECT v_id AS tenant_id, v_new AS settings;
END//

CREATE OR REPLACE PROCEDURE set_tenant_settings(IN p_tenant_id LONGBLOB,
                                                IN p_settings LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Replace a tenant''s settings with a JSON object'
  CALL tenant_auth_settings_change('set_tenant_settings', p_tenant_id,
                                   p_settings, FALSE)//

CREATE OR REPLACE PROCEDURE merge_tenant_settings(IN p_tenant_id LONGBLOB,
                                                  IN p_patch LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Merge a JSON merge patch (RFC 7396) into a tenant''s settings'
  CALL tenant_auth_settings_change('merge_tenant_settings', p_tenant_id,
                                   p_patch, TRUE)//

CREATE OR REPLACE PROCEDURE delete_tenant(IN p_tenant_id LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Delete a tenant and all its tokens'
BEGIN
  DECLARE v_id UUID DEFAULT tenant_auth_tenant_id(p_tenant_id, 'delete_tenant');
  DECLARE v_name VARCHAR(255) CHARACTER SET utf8mb4;
  DECLARE v_tokens BIGINT UNSIGNED;
  DECLARE v_own_txn BOOLEAN DEFAULT (@@in_transaction = 0);
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF v_own_txn THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  CALL tenant_auth_require_writable('delete_tenant');
  IF v_own_txn THEN START TRANSACTION; END IF;
  SELECT name INTO v_name FROM tenants WHERE id = v_id FOR UPDATE;
  SELECT COUNT(*) INTO v_tokens FROM tenant_tokens WHERE tenant_id = v_id;
  DELETE FROM tenants WHERE id = v_id;  -- its tokens go by ON DELETE CASCADE
  CALL tenant_auth_audit_write('tenant_deleted', v_id, NULL,
    JSON_OBJECT('name', v_name, 'tokens_deleted', v_tokens + 0));
  IF v_own_txn THEN COMMIT; END IF;
  SELECT v_id AS tenant_id, v_tokens AS tokens_deleted;
END//

CREATE OR REPLACE PROCEDURE list_tenant_tokens(IN p_tenant_id LONGBLOB)
  READS SQL DATA SQL SECURITY DEFINER
  COMMENT 'A tenant''s tokens: ids, labels, hints, abilities and times; never a hash'
BEGIN
  DECLARE v_id UUID DEFAULT tenant_auth_tenant_id(p_tenant_id, 'list_tenant_tokens');
  SELECT id AS token_id, label, hint, abilities, created_at, expires_at,
         revoked_at, last_used_at
    FROM tenant_tokens WHERE tenant_id = v_id ORDER BY id;
END//

-- The hot path: a plain consistent read, and nothing else. NULL for NULL,
-- malformed (decided by tenant_token_hash alone, without reading the table),
-- unknown, revoked or expired tokens, and tokens of a suspended tenant. It
-- writes nothing, so it answers on a read_only server. It refuses a
-- caller's open transaction (START TRANSACTION, autocommit=0): there every
-- call would read the snapshot of the first (a token revoked since would
-- still verify), and under SERIALIZABLE, which a session can set for one
-- transaction unseen by @@tx_isolation, InnoDB would turn its read into a
-- shared lock held until the caller ends it. Time is SYSDATE(6), the
-- server's clock: a session's SET timestamp cannot make an expired token
-- verify. Use is recorded apart, by note_tenant_token_use.
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
  IF @@in_transaction THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'verify_tenant_token: call it outside a transaction (autocommit=1): it must read the latest state and hold no lock';
  END IF;
  SELECT k.tenant_id INTO v_tenant_id
    FROM tenant_tokens k JOIN tenants t ON t.id = k.tenant_id
   WHERE k.token_hash = v_hash AND k.revoked_at IS NULL
     AND (k.expires_at IS NULL OR k.expires_at > v_now)
     AND t.suspended_at IS NULL;
  RETURN v_tenant_id;
END//

-- The hot path with an ability: one short word per token, so that N
-- tokens batch in one SELECT as verify_tenant_token does.
--   the tenant's UUID     valid, and the token has the ability (or p_ability is NULL)
--   insufficient_scope    valid, but the token lacks the ability
--   malformed unknown revoked expired suspended
--                         invalid, and why (checked in this order)
--   NULL                  p_token is NULL
-- A reason costs nothing more than the verdict: the row read is the same.
-- p_ability must be an ability name (no wildcard), else an error: it is the
-- caller's configuration, not the client's input.
CREATE OR REPLACE FUNCTION verify_tenant_token_ability(p_token LONGBLOB,
                                                       p_ability LONGBLOB)
  RETURNS VARCHAR(36) CHARACTER SET utf8mb4
  NOT DETERMINISTIC READS SQL DATA SQL SECURITY DEFINER
  COMMENT 'Tenant id for a valid token holding the ability, else a reason'
BEGIN
  DECLARE v_hash BINARY(32) DEFAULT tenant_token_hash(p_token);
  DECLARE v_now TIMESTAMP(6) DEFAULT SYSDATE(6);
  DECLARE v_ability VARCHAR(64) CHARACTER SET ascii;
  DECLARE v_found BOOLEAN DEFAULT FALSE;
  DECLARE v_tenant_id UUID;
  DECLARE v_revoked_at TIMESTAMP(6);
  DECLARE v_expires_at TIMESTAMP(6);
  DECLARE v_suspended_at TIMESTAMP(6);
  DECLARE v_abilities VARCHAR(4500) CHARACTER SET ascii;
  DECLARE v_colon INT;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;
  IF p_ability IS NOT NULL THEN
    IF LENGTH(p_ability) > 64 OR p_ability NOT REGEXP
       '^[a-z][a-z0-9_-]*(:[a-z][a-z0-9_-]*)*\\z' THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
        'verify_tenant_token_ability: ability must be a name like metrics:write (a-z, 0-9, _ and -, segments joined by :, up to 64 characters) or NULL';
    END IF;
    SET v_ability = CONVERT(p_ability USING ascii);
  END IF;
  IF p_token IS NULL THEN
    RETURN NULL;
  END IF;
  IF v_hash IS NULL THEN
    IF tenant_token_valid(p_token) THEN
      SIGNAL SQLSTATE 'HY000'
        SET MESSAGE_TEXT = 'verify_tenant_token_ability: hashing failed';
    END IF;
    RETURN 'malformed';
  END IF;
  IF @@in_transaction THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'verify_tenant_token_ability: call it outside a transaction (autocommit=1): it must read the latest state and hold no lock';
  END IF;
  SELECT TRUE, k.tenant_id, k.revoked_at, k.expires_at, k.abilities, t.suspended_at
    INTO v_found, v_tenant_id, v_revoked_at, v_expires_at, v_abilities, v_suspended_at
    FROM tenant_tokens k JOIN tenants t ON t.id = k.tenant_id
   WHERE k.token_hash = v_hash;
  IF NOT v_found THEN
    RETURN 'unknown';
  END IF;
  IF v_revoked_at IS NOT NULL THEN
    RETURN 'revoked';
  END IF;
  IF v_expires_at IS NOT NULL AND v_expires_at <= v_now THEN
    RETURN 'expired';
  END IF;
  IF v_suspended_at IS NOT NULL THEN
    RETURN 'suspended';
  END IF;
  IF v_ability IS NULL OR JSON_CONTAINS(v_abilities, '"*"')
     OR JSON_CONTAINS(v_abilities, JSON_QUOTE(v_ability)) THEN
    RETURN v_tenant_id;
  END IF;
  -- "metrics:*" grants metrics:write and metrics:write:raw.
  SET v_colon = LOCATE(':', v_ability);
  WHILE v_colon > 0 DO
    IF JSON_CONTAINS(v_abilities, JSON_QUOTE(CONCAT(LEFT(v_ability, v_colon), '*'))) THEN
      RETURN v_tenant_id;
    END IF;
    SET v_colon = LOCATE(':', v_ability, v_colon + 1);
  END WHILE;
  RETURN 'insufficient_scope';
END//

-- For DBAs and support: what a token is, in one word: valid, unknown,
-- revoked, expired, suspended or malformed (also for NULL).
CREATE OR REPLACE FUNCTION tenant_token_status(p_token LONGBLOB)
  RETURNS VARCHAR(16) CHARACTER SET utf8mb4
  NOT DETERMINISTIC READS SQL DATA SQL SECURITY DEFINER
  COMMENT 'valid, unknown, revoked, expired, suspended or malformed'
BEGIN
  DECLARE v_word VARCHAR(36) CHARACTER SET ascii DEFAULT
    verify_tenant_token_ability(p_token, NULL);
  RETURN CASE WHEN v_word IS NULL THEN 'malformed'
              WHEN LENGTH(v_word) = 36 THEN 'valid'
              ELSE v_word END;
END//

-- Verification by hash, for tenant-authd: one set-based read answers for a
-- batch of tokens, which never travel to the server in clear. p_hashes is
-- their SHA-256 hashes (UNHEX(SHA2(token, 256)), as tenant_tokens stores
-- them) packed end to end: 32 bytes each, 1 to 256 of them. One result set,
-- ordered by pos, with a row for every hash that names a stored token; an
-- unknown hash gives no row, a hash given twice a row at each position:
--   pos         its 0-based index in p_hashes (BIGINT UNSIGNED: the
--               sequence's column; MariaDB 10.11 casts to no 4-byte unsigned)
--   state       valid, revoked, expired or suspended, judged by the
--               server's clock, checked in verify_tenant_token_ability's order
--   tenant_id   the tenant's UUID
--   token_id    tenant_tokens.id
--   abilities   the token's JSON array, as stored (sorted). Abilities are
--               the caller's to decide, by verify_tenant_token_ability's rules
--   issued_at   created_at in UNIX seconds
--   expires_at  expires_at in UNIX seconds (rounded down), NULL: never
-- NULL, empty, a length not a multiple of 32 and more than 256 hashes are
-- errors that echo no byte of the input. It only reads: it answers on a
-- read_only server. Like verify_tenant_token, it refuses inside an open
-- transaction and with autocommit off: under SERIALIZABLE InnoDB would hold
-- a shared lock on every row read until the caller commits, and a one-time
-- SET TRANSACTION ISOLATION LEVEL SERIALIZABLE is not in @@tx_isolation, so
-- the only sure way to hold no lock past the call is to own no transaction.
-- The plan (EXPLAIN of this SELECT, p_hashes a user variable, 64 hashes,
-- on 2 tokens and on 100000 tokens of 2 tenants, MariaDB 10.11):
--   s  range   PRIMARY  seq < n
--   k  eq_ref  PRIMARY  token_hash = SUBSTRING(p_hashes, seq * 32 + 1, 32)
--   t  eq_ref  PRIMARY  id = k.tenant_id
-- Rows come in seq order: no filesort. Without STRAIGHT_JOIN and FORCE
-- INDEX the optimizer scans a small table instead (tenant_tokens when it
-- holds a few rows, tenants when there are few tenants), with a join buffer
-- and a filesort.
CREATE OR REPLACE PROCEDURE verify_tenant_token_hashes(IN p_hashes LONGBLOB)
  READS SQL DATA SQL SECURITY DEFINER
  COMMENT 'State, tenant and abilities of tokens given by hash (1 to 256 32-byte SHA-256, packed)'
BEGIN
  DECLARE v_len BIGINT UNSIGNED DEFAULT LENGTH(p_hashes);
  DECLARE v_now TIMESTAMP(6) DEFAULT SYSDATE(6);
  IF p_hashes IS NULL THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'verify_tenant_token_hashes: hashes must not be NULL';
  END IF;
  IF v_len = 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'verify_tenant_token_hashes: hashes must not be empty: give 1 to 256';
  END IF;
  IF v_len MOD 32 <> 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'verify_tenant_token_hashes: hashes must be 32-byte SHA-256 values packed end to end; the length is not a multiple of 32';
  END IF;
  IF v_len > 256 * 32 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'verify_tenant_token_hashes: at most 256 hashes (8192 bytes) per call';
  END IF;
  IF @@in_transaction OR NOT @@autocommit THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'verify_tenant_token_hashes: call it outside a transaction (autocommit=1): it must read the latest state and hold no lock';
  END IF;
  SELECT s.seq AS pos,
         CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
              WHEN k.expires_at IS NOT NULL AND k.expires_at <= v_now THEN 'expired'
              WHEN t.suspended_at IS NOT NULL THEN 'suspended'
              ELSE 'valid' END AS state,
         k.tenant_id AS tenant_id, k.id AS token_id, k.abilities AS abilities,
         FLOOR(UNIX_TIMESTAMP(k.created_at)) AS issued_at,
         FLOOR(UNIX_TIMESTAMP(k.expires_at)) AS expires_at
    FROM seq_0_to_255 s
         STRAIGHT_JOIN tenant_tokens k FORCE INDEX (PRIMARY)
           ON k.token_hash = SUBSTRING(p_hashes, s.seq * 32 + 1, 32)
         STRAIGHT_JOIN tenants t FORCE INDEX (PRIMARY) ON t.id = k.tenant_id
   WHERE s.seq < v_len DIV 32
   ORDER BY s.seq;
END//

-- Records that tokens were used. p_hashes is their SHA-256 hashes packed
-- end to end: 32 bytes each, no separator, at most 4096 (128 KiB), in any
-- order, duplicates allowed; an empty string notes nothing. Each listed
-- token whose last_used_at is NULL or older than 60 seconds gets the
-- server's time; unknown hashes are ignored. Rows are updated one by one in
-- hash order, in one transaction of its own, so two calls cannot deadlock.
-- Malformed input is an error that changes nothing. The clear token never
-- travels here: tenant-authd hashes it itself.
-- It holds no lock past its own call, so that a verifier (tenant-authd's
-- account, perhaps stolen) cannot keep a revocation or an issue waiting:
-- it refuses a caller's open transaction, and reads at READ COMMITTED, where
-- a hash that is not there locks no gap (4096 random hashes would otherwise
-- lock most of the key space until the commit).
CREATE OR REPLACE PROCEDURE note_tenant_token_use(IN p_hashes LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Set last_used_at of tokens by hash (32-byte SHA-256 each, packed)'
BEGIN
  DECLARE v_len BIGINT UNSIGNED DEFAULT LENGTH(p_hashes);
  DECLARE v_now TIMESTAMP(6) DEFAULT SYSDATE(6);
  DECLARE v_tries INT UNSIGNED DEFAULT 0;
  DECLARE v_sorted LONGBLOB DEFAULT NULL;
  DECLARE v_i INT UNSIGNED;
  DECLARE v_in_txn BOOLEAN DEFAULT FALSE; -- our transaction is open
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF v_in_txn THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  -- A read-only server (a replica) must not take notes that its primary
  -- never made.
  CALL tenant_auth_require_writable('note_tenant_token_use');
  IF @@in_transaction THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'note_tenant_token_use: call it outside a transaction (autocommit=1): it holds no lock past its own call';
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
  -- The distinct hashes in ascending order, packed, so that every call
  -- locks rows in the same order (two calls never deadlock each other).
  -- Positions 0 to 4095 without recursion (a recursive CTE stops silently
  -- at max_recursive_iterations, 1000 by default). One query and a loop of
  -- point updates, no cursor: a cursor left open by the deadlock handler
  -- below leaked server memory on every retry (MariaDB 10.11).
  SET STATEMENT group_concat_max_len = 131072 FOR
  SELECT GROUP_CONCAT(DISTINCT h ORDER BY h SEPARATOR '') INTO v_sorted
    FROM (WITH d (n) AS (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9),
                                (10), (11), (12), (13), (14), (15))
          SELECT CAST(SUBSTRING(p_hashes, (a.n * 256 + b.n * 16 + c.n) * 32 + 1,
                                32) AS BINARY(32)) AS h
            FROM d a, d b, d c
           WHERE a.n * 256 + b.n * 16 + c.n < v_len DIV 32) positions;
  -- On Galera, nodes noting the same tokens at once conflict: the later one
  -- fails certification (error 1213, as a deadlock does). Its own
  -- transaction is tried again; by then the winner's rows are recent and
  -- are skipped.
  notes: LOOP
    BEGIN
      DECLARE EXIT HANDLER FOR 1213
      BEGIN
        ROLLBACK;
        SET v_in_txn = FALSE;
        SET v_tries = v_tries + 1;
        IF v_tries >= 5 THEN RESIGNAL; END IF;
      END;
      SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
      START TRANSACTION;
      SET v_in_txn = TRUE;
      SET v_i = 0;
      WHILE v_i < LENGTH(v_sorted) DIV 32 DO
        UPDATE tenant_tokens SET last_used_at = v_now
         WHERE token_hash = SUBSTRING(v_sorted, v_i * 32 + 1, 32)
           AND (last_used_at IS NULL
                OR last_used_at < v_now - INTERVAL 60 SECOND);
        SET v_i = v_i + 1;
      END WHILE;
      COMMIT;
      SET v_in_txn = FALSE;
      LEAVE notes;
    END;
  END LOOP;
END//

-- Whoever holds a token may revoke it, as with GitHub's credential
-- revocation: a secret scanner, a finder of a leaked token, its owner.
-- Takes the clear token; answers nothing and the same way whether or not
-- it was known (no result set, no error), so that it cannot be used to
-- probe. A known token that is not revoked yet is revoked now, with an
-- audit row (token_leak_revoked). NULL, empty, malformed and oversized
-- values do nothing. Fails with error 1290 on a read_only server. Like
-- note_tenant_token_use it holds no lock past its own call: it refuses a
-- caller's open transaction, and an unknown hash locks no gap.
CREATE OR REPLACE PROCEDURE revoke_leaked_tenant_token(IN p_token LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Revoke the token given in clear, if known; answers nothing either way'
BEGIN
  DECLARE v_hash BINARY(32) DEFAULT tenant_token_hash(p_token);
  DECLARE v_found BOOLEAN DEFAULT FALSE;
  DECLARE v_id BIGINT UNSIGNED;
  DECLARE v_tenant_id UUID;
  DECLARE v_hint CHAR(8) CHARACTER SET ascii;
  DECLARE v_revoked_at TIMESTAMP(6);
  DECLARE v_errno INT UNSIGNED;
  DECLARE v_tries INT UNSIGNED DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = FALSE;
  CALL tenant_auth_require_writable('revoke_leaked_tenant_token');
  IF @@in_transaction THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'revoke_leaked_tenant_token: call it outside a transaction (autocommit=1): it holds no lock past its own call';
  END IF;
  IF v_hash IS NULL AND tenant_token_valid(p_token) THEN
    SIGNAL SQLSTATE 'HY000'
      SET MESSAGE_TEXT = 'revoke_leaked_tenant_token: hashing failed';
  END IF;
  -- Tried again after a Galera certification conflict, as revoke_tenant_token.
  attempts: LOOP
    IF v_hash IS NULL THEN LEAVE attempts; END IF;
    BEGIN
      DECLARE EXIT HANDLER FOR SQLEXCEPTION
      BEGIN
        GET DIAGNOSTICS CONDITION 1 v_errno = MYSQL_ERRNO;
        ROLLBACK;
        SET v_tries = v_tries + 1;
        IF v_errno <> 1213 OR v_tries >= 5 THEN RESIGNAL; END IF;
      END;
      SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
      START TRANSACTION;
      SELECT TRUE, id, tenant_id, hint, revoked_at
        INTO v_found, v_id, v_tenant_id, v_hint, v_revoked_at
        FROM tenant_tokens WHERE token_hash = v_hash FOR UPDATE;
      IF v_found AND v_revoked_at IS NULL THEN
        UPDATE tenant_tokens SET revoked_at = SYSDATE(6) WHERE id = v_id;
        CALL tenant_auth_audit_write('token_leak_revoked', v_tenant_id, v_id,
                                     JSON_OBJECT('hint', v_hint));
      END IF;
      COMMIT;
      LEAVE attempts;
    END;
  END LOOP;
END//

-- Internal: the whole number in p_value (bytes) from p_min to p_max, or an
-- error naming p_what.
CREATE OR REPLACE FUNCTION tenant_auth_count_arg(p_value LONGBLOB,
  p_min INT UNSIGNED, p_max INT UNSIGNED, p_what VARCHAR(96))
  RETURNS INT UNSIGNED DETERMINISTIC NO SQL SQL SECURITY DEFINER
  COMMENT 'tenant_auth internal: parse a bounded whole number'
BEGIN
  DECLARE v_message VARCHAR(160) DEFAULT CONCAT(p_what, ' must be a whole number from ',
                                                p_min, ' to ', p_max);
  IF p_value IS NULL OR p_value NOT REGEXP '^[0-9]{1,9}\\z'
     OR CAST(p_value AS UNSIGNED) NOT BETWEEN p_min AND p_max THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  RETURN CAST(p_value AS UNSIGNED);
END//

-- Deletes tokens revoked, or expired, more than p_days days ago, at most
-- p_chunk rows per transaction, committing after each chunk (with its own
-- audit row, tokens_pruned), so that no lock is held for long. Must be
-- called outside a transaction. Answers one row: tokens_deleted, chunks.
CREATE OR REPLACE PROCEDURE prune_tenant_tokens(IN p_days LONGBLOB,
                                                IN p_chunk LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Delete tokens revoked or expired more than N days ago, in chunks'
BEGIN
  DECLARE v_days INT UNSIGNED DEFAULT
    tenant_auth_count_arg(p_days, 0, 36500, 'prune_tenant_tokens: days');
  DECLARE v_chunk INT UNSIGNED DEFAULT
    tenant_auth_count_arg(p_chunk, 1, 100000, 'prune_tenant_tokens: chunk_size');
  DECLARE v_cutoff TIMESTAMP(6);
  DECLARE v_n INT UNSIGNED;
  DECLARE v_total BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_chunks INT UNSIGNED DEFAULT 0;
  DECLARE v_in_chunk BOOLEAN DEFAULT FALSE; -- a chunk's transaction is open
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF v_in_chunk THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  CALL tenant_auth_require_writable('prune_tenant_tokens');
  IF @@in_transaction THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'prune_tenant_tokens: call it outside a transaction: it commits after each chunk';
  END IF;
  SET v_cutoff = SYSDATE(6) - INTERVAL v_days DAY;
  REPEAT
    START TRANSACTION;
    SET v_in_chunk = TRUE;
    DELETE FROM tenant_tokens WHERE revoked_at < v_cutoff
     ORDER BY revoked_at LIMIT v_chunk;
    SET v_n = ROW_COUNT();
    IF v_n > 0 THEN
      CALL tenant_auth_audit_write('tokens_pruned', NULL, NULL,
        JSON_OBJECT('reason', 'revoked', 'older_than_days', v_days + 0,
                    'tokens_deleted', v_n + 0));
    END IF;
    COMMIT;
    SET v_in_chunk = FALSE;
    SET v_total = v_total + v_n, v_chunks = v_chunks + (v_n > 0);
  UNTIL v_n < v_chunk END REPEAT;
  REPEAT
    START TRANSACTION;
    SET v_in_chunk = TRUE;
    DELETE FROM tenant_tokens WHERE expires_at < v_cutoff
     ORDER BY expires_at LIMIT v_chunk;
    SET v_n = ROW_COUNT();
    IF v_n > 0 THEN
      CALL tenant_auth_audit_write('tokens_pruned', NULL, NULL,
        JSON_OBJECT('reason', 'expired', 'older_than_days', v_days + 0,
                    'tokens_deleted', v_n + 0));
    END IF;
    COMMIT;
    SET v_in_chunk = FALSE;
    SET v_total = v_total + v_n, v_chunks = v_chunks + (v_n > 0);
  UNTIL v_n < v_chunk END REPEAT;
  SELECT v_total AS tokens_deleted, v_chunks AS chunks;
END//

-- The audit trail's retention: deletes rows older than p_days days (30 at
-- least, so that the trail of the last month cannot be wiped), p_chunk per
-- transaction, committing after each; then writes one row, audit_purged,
-- saying how many went. Must be called outside a transaction.
CREATE OR REPLACE PROCEDURE purge_tenant_auth_audit(IN p_days LONGBLOB,
                                                    IN p_chunk LONGBLOB)
  MODIFIES SQL DATA SQL SECURITY DEFINER
  COMMENT 'Delete audit rows older than N days (30 or more), in chunks'
BEGIN
  DECLARE v_days INT UNSIGNED DEFAULT
    tenant_auth_count_arg(p_days, 30, 36500, 'purge_tenant_auth_audit: days');
  DECLARE v_chunk INT UNSIGNED DEFAULT
    tenant_auth_count_arg(p_chunk, 1, 100000, 'purge_tenant_auth_audit: chunk_size');
  DECLARE v_cutoff TIMESTAMP(6);
  DECLARE v_n INT UNSIGNED;
  DECLARE v_total BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_in_chunk BOOLEAN DEFAULT FALSE; -- a chunk's transaction is open
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF v_in_chunk THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  CALL tenant_auth_require_writable('purge_tenant_auth_audit');
  IF @@in_transaction THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'purge_tenant_auth_audit: call it outside a transaction: it commits after each chunk';
  END IF;
  SET v_cutoff = SYSDATE(6) - INTERVAL v_days DAY;
  REPEAT
    START TRANSACTION;
    SET v_in_chunk = TRUE;
    DELETE FROM tenant_auth_audit WHERE at < v_cutoff ORDER BY at LIMIT v_chunk;
    SET v_n = ROW_COUNT();
    COMMIT;
    SET v_in_chunk = FALSE;
    SET v_total = v_total + v_n;
  UNTIL v_n < v_chunk END REPEAT;
  START TRANSACTION;
  SET v_in_chunk = TRUE;
  CALL tenant_auth_audit_write('audit_purged', NULL, NULL,
    JSON_OBJECT('older_than_days', v_days + 0, 'rows_deleted', v_total + 0));
  COMMIT;
  SELECT v_total AS rows_deleted;
END//

-- The version of the routines installed here, the version of CMake's
-- project() this script was made from. tenant_auth_version() is the
-- version of the loaded library; after an upgrade both say the same.
CREATE OR REPLACE FUNCTION tenant_auth_schema_version() RETURNS VARCHAR(32)
  DETERMINISTIC NO SQL SQL SECURITY INVOKER
  COMMENT 'Version of the tenant_auth routines installed in this database'
  RETURN '1.3.0'//

DELIMITER ;

-- The prefix of this installation's roles, kept in a function that
-- install.sql (run again) and uninstall.sql read.
EXECUTE IMMEDIATE CONCAT(
  'CREATE OR REPLACE FUNCTION tenant_auth_role_prefix() RETURNS VARCHAR(32) ',
  'DETERMINISTIC NO SQL SQL SECURITY INVOKER ',
  'COMMENT ''Prefix of the roles of this installation: <prefix>_admin, <prefix>_verifier'' ',
  'RETURN ', QUOTE(@tenant_auth_roles_new));

-- Roles. <prefix>_verifier may only verify, note use, revoke a token it is
-- given in clear and read the schema version: it cannot read any table.
-- <prefix>_admin runs the procedures and reads the tables.
DELIMITER //
BEGIN NOT ATOMIC
  DECLARE v_db VARCHAR(200) DEFAULT CONCAT('`', REPLACE(DATABASE(), '`', '``'), '`');
  DECLARE v_admin VARCHAR(64) DEFAULT CONCAT(@tenant_auth_roles_new, '_admin');
  DECLARE v_verifier VARCHAR(64) DEFAULT CONCAT(@tenant_auth_roles_new, '_verifier');
  DECLARE v_drop_admin VARCHAR(64) DEFAULT CONCAT(@tenant_auth_roles_old, '_admin');
  DECLARE v_drop_verifier VARCHAR(64) DEFAULT CONCAT(@tenant_auth_roles_old, '_verifier');
  EXECUTE IMMEDIATE CONCAT('CREATE ROLE IF NOT EXISTS ', v_verifier);
  EXECUTE IMMEDIATE CONCAT('CREATE ROLE IF NOT EXISTS ', v_admin);
  FOR g IN (
    SELECT 'EXECUTE ON FUNCTION' AS what, 'verify_tenant_token' AS obj, 'v' AS role
    UNION ALL SELECT 'EXECUTE ON FUNCTION', 'verify_tenant_token_ability', 'v'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'verify_tenant_token_hashes', 'v'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'note_tenant_token_use', 'v'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'revoke_leaked_tenant_token', 'v'
    UNION ALL SELECT 'EXECUTE ON FUNCTION', 'tenant_auth_schema_version', 'v'
    UNION ALL SELECT 'EXECUTE ON FUNCTION', 'verify_tenant_token', 'a'
    UNION ALL SELECT 'EXECUTE ON FUNCTION', 'verify_tenant_token_ability', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'verify_tenant_token_hashes', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'note_tenant_token_use', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'revoke_leaked_tenant_token', 'a'
    UNION ALL SELECT 'EXECUTE ON FUNCTION', 'tenant_auth_schema_version', 'a'
    UNION ALL SELECT 'EXECUTE ON FUNCTION', 'tenant_token_status', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'create_tenant', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'rename_tenant', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'suspend_tenant', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'resume_tenant', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'set_tenant_settings', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'merge_tenant_settings', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'delete_tenant', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'list_tenant_tokens', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'issue_tenant_token', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'issue_tenant_token_with_abilities', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'revoke_tenant_token', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'rotate_tenant_token', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'set_tenant_token_abilities', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'prune_tenant_tokens', 'a'
    UNION ALL SELECT 'EXECUTE ON PROCEDURE', 'purge_tenant_auth_audit', 'a'
    UNION ALL SELECT 'SELECT ON', 'tenants', 'a'
    UNION ALL SELECT 'SELECT ON', 'tenant_tokens', 'a'
    UNION ALL SELECT 'SELECT ON', 'tenant_auth_audit', 'a')
  DO
    EXECUTE IMMEDIATE CONCAT('GRANT ', g.what, ' ', v_db, '.', g.obj, ' TO ',
                             IF(g.role = 'a', v_admin, v_verifier));
  END FOR;

  -- Moving to new roles: who held an old role gets the new one (and, when
  -- the old one was their default role, the new one becomes it); the old
  -- roles lose this database, and are dropped once they serve none.
  IF @tenant_auth_roles_old IS NOT NULL
     AND @tenant_auth_roles_old <> @tenant_auth_roles_new THEN
    FOR m IN (SELECT User, Host, Role FROM mysql.roles_mapping
               WHERE Role IN (v_drop_admin, v_drop_verifier))
    DO
      EXECUTE IMMEDIATE CONCAT('GRANT ',
        IF(m.Role = v_drop_admin, v_admin, v_verifier), ' TO ', QUOTE(m.User),
        IF(m.Host = '', '', CONCAT('@', QUOTE(m.Host))));
    END FOR;
    FOR u IN (SELECT User, Host, JSON_VALUE(Priv, '$.default_role') AS r
                FROM mysql.global_priv
               WHERE JSON_VALUE(Priv, '$.default_role') IN (v_drop_admin, v_drop_verifier))
    DO
      EXECUTE IMMEDIATE CONCAT('SET DEFAULT ROLE ',
        IF(u.r = v_drop_admin, v_admin, v_verifier), ' FOR ', QUOTE(u.User),
        '@', QUOTE(u.Host));
    END FOR;
-- From sql/release_roles.sql.inc, shared by install.sql (moving to new
  -- roles) and uninstall.sql: the roles v_drop_admin and v_drop_verifier
  -- lose every grant on this database (v_db, quoted), and each is dropped
  -- once it serves no database. Names read from the grant tables are
  -- quoted before they are pasted: a routine or table may be named anything.
  FOR p IN (SELECT User, Routine_name, Routine_type FROM mysql.procs_priv
             WHERE Host = '' AND Db = DATABASE()
               AND User IN (v_drop_admin, v_drop_verifier))
  DO
    EXECUTE IMMEDIATE CONCAT('REVOKE EXECUTE ON ', p.Routine_type, ' ', v_db,
      '.`', REPLACE(p.Routine_name, '`', '``'), '` FROM `',
      REPLACE(p.User, '`', '``'), '`');
  END FOR;
  FOR p IN (SELECT User, Table_name FROM mysql.tables_priv
             WHERE Host = '' AND Db = DATABASE()
               AND User IN (v_drop_admin, v_drop_verifier))
  DO
    EXECUTE IMMEDIATE CONCAT('REVOKE ALL PRIVILEGES ON ', v_db, '.`',
      REPLACE(p.Table_name, '`', '``'), '` FROM `',
      REPLACE(p.User, '`', '``'), '`');
  END FOR;
  FOR r IN (SELECT v_drop_admin AS role UNION ALL SELECT v_drop_verifier) DO
    IF NOT EXISTS (SELECT 1 FROM mysql.procs_priv WHERE Host = '' AND User = r.role)
       AND NOT EXISTS (SELECT 1 FROM mysql.tables_priv WHERE Host = '' AND User = r.role)
       AND NOT EXISTS (SELECT 1 FROM mysql.db WHERE Host = '' AND User = r.role) THEN
      EXECUTE IMMEDIATE CONCAT('DROP ROLE IF EXISTS `',
                               REPLACE(r.role, '`', '``'), '`');
    END IF;
  END FOR;
  END IF;
END//
DELIMITER ;

SET @tenant_auth_roles_old = NULL, @tenant_auth_roles_new = NULL;
SET SESSION sql_mode = @tenant_auth_old_sql_mode;
SET @tenant_auth_old_sql_mode = NULL;
