-- bench/tune.sql: scratch variants of verify_tenant_token for bench/run
-- --tune, created in the bench database only. Each is named tune_<letter>_
-- <change> and differs from the installed verify_tenant_token (the baseline,
-- measured as it is, not copied here) in the one way its name and comment
-- say; none repeats install.sql's check for a hashing failure, which runs
-- only for malformed tokens and so never in these measurements. All only
-- read, as the installed function does since 1.1.0. bench/run measures the
-- baseline and every tune_% function side by side with the same tokens,
-- twice, with all tokens stale and all fresh (last_used_at NULL or now):
-- since nothing writes, the two columns should agree.

SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO';

DELIMITER //

-- b: the parameter is VARBINARY(255) instead of LONGBLOB. Caveat: in strict
-- mode a longer argument is an error (1406), not NULL.
CREATE OR REPLACE FUNCTION tune_b_varbinary(p_token VARBINARY(255))
  RETURNS UUID
  NOT DETERMINISTIC READS SQL DATA SQL SECURITY DEFINER
BEGIN
  DECLARE v_hash BINARY(32) DEFAULT tenant_token_hash(p_token);
  DECLARE v_tenant_id UUID DEFAULT NULL;
  DECLARE v_now TIMESTAMP(6) DEFAULT SYSDATE(6);
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_tenant_id = NULL;
  IF v_hash IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT tenant_id INTO v_tenant_id
    FROM tenant_tokens
   WHERE token_hash = v_hash AND revoked_at IS NULL
     AND (expires_at IS NULL OR expires_at > v_now);
  RETURN v_tenant_id;
END//

-- c: no NOT FOUND handler: an aggregate SELECT always yields one row (NULL
-- when the token is unknown), so nothing is ever "not found".
CREATE OR REPLACE FUNCTION tune_c_no_handler(p_token LONGBLOB) RETURNS UUID
  NOT DETERMINISTIC READS SQL DATA SQL SECURITY DEFINER
BEGIN
  DECLARE v_hash BINARY(32) DEFAULT tenant_token_hash(p_token);
  DECLARE v_tenant_id UUID DEFAULT NULL;
  DECLARE v_now TIMESTAMP(6) DEFAULT SYSDATE(6);
  IF v_hash IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT MAX(tenant_id) INTO v_tenant_id
    FROM tenant_tokens
   WHERE token_hash = v_hash AND revoked_at IS NULL
     AND (expires_at IS NULL OR expires_at > v_now);
  RETURN v_tenant_id;
END//

-- d: one statement: RETURN of a scalar subquery, no variables, no handler,
-- SYSDATE(6) in the WHERE (evaluated per row read: one row here).
CREATE OR REPLACE FUNCTION tune_d_one_statement(p_token LONGBLOB)
  RETURNS UUID
  NOT DETERMINISTIC READS SQL DATA SQL SECURITY DEFINER
BEGIN
  RETURN (SELECT tenant_id FROM tenant_tokens
           WHERE token_hash = tenant_token_hash(p_token)
             AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > SYSDATE(6)));
END//

-- e: NOW(6) instead of SYSDATE(6): what the server clock costs. Not a
-- proposal (SET timestamp would move expiry again).
CREATE OR REPLACE FUNCTION tune_e_now(p_token LONGBLOB) RETURNS UUID
  NOT DETERMINISTIC READS SQL DATA SQL SECURITY DEFINER
BEGIN
  DECLARE v_hash BINARY(32) DEFAULT tenant_token_hash(p_token);
  DECLARE v_tenant_id UUID DEFAULT NULL;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_tenant_id = NULL;
  IF v_hash IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT tenant_id INTO v_tenant_id
    FROM tenant_tokens
   WHERE token_hash = v_hash AND revoked_at IS NULL
     AND (expires_at IS NULL OR expires_at > NOW(6));
  RETURN v_tenant_id;
END//

DELIMITER ;

-- (1d) step by step: what a CALL of 16 packed hashes costs the server, one
-- part at a time, measured beside verify_tenant_token_hashes and
-- authorize_tenant_token_hashes by bench/run --tune. Each returns the
-- position and the word 'valid' first, as dbload --hashes counts them, and
-- skips the installed routines' input checks (bench input is well formed).

DELIMITER //

-- 1d-a: the CALL and the walk of the sequence over the given positions; no
-- table read.
CREATE OR REPLACE PROCEDURE tune1d_a_sequence(IN p_hashes LONGBLOB)
  READS SQL DATA SQL SECURITY DEFINER
BEGIN
  DECLARE v_count BIGINT UNSIGNED DEFAULT LENGTH(p_hashes) DIV 32;
  SELECT s.seq AS pos, 'valid' AS state
    FROM seq_0_to_255 s
   WHERE s.seq < v_count;
END//

-- 1d-b: plus one primary-key read of tenant_tokens per hash.
CREATE OR REPLACE PROCEDURE tune1d_b_token_read(IN p_hashes LONGBLOB)
  READS SQL DATA SQL SECURITY DEFINER
BEGIN
  DECLARE v_count BIGINT UNSIGNED DEFAULT LENGTH(p_hashes) DIV 32;
  SELECT s.seq AS pos, 'valid' AS state
    FROM seq_0_to_255 s
         STRAIGHT_JOIN tenant_tokens k FORCE INDEX (PRIMARY)
           ON k.token_hash = SUBSTRING(p_hashes, s.seq * 32 + 1, 32)
   WHERE s.seq < v_count;
END//

-- 1d-c: plus verify_tenant_token_hashes' columns that come from the token
-- (state without the tenant's suspension), in order; no tenants read.
CREATE OR REPLACE PROCEDURE tune1d_c_token_columns(IN p_hashes LONGBLOB)
  READS SQL DATA SQL SECURITY DEFINER
BEGIN
  DECLARE v_count BIGINT UNSIGNED DEFAULT LENGTH(p_hashes) DIV 32;
  DECLARE v_now TIMESTAMP(6) DEFAULT SYSDATE(6);
  SELECT s.seq AS pos,
         CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
              WHEN k.expires_at IS NOT NULL AND k.expires_at <= v_now THEN 'expired'
              ELSE 'valid' END AS state,
         k.tenant_id AS tenant_id, k.id AS token_id, k.abilities AS abilities,
         FLOOR(UNIX_TIMESTAMP(k.created_at)) AS issued_at,
         FLOOR(UNIX_TIMESTAMP(k.expires_at)) AS expires_at
    FROM seq_0_to_255 s
         STRAIGHT_JOIN tenant_tokens k FORCE INDEX (PRIMARY)
           ON k.token_hash = SUBSTRING(p_hashes, s.seq * 32 + 1, 32)
   WHERE s.seq < v_count
   ORDER BY s.seq;
END//

DELIMITER ;
