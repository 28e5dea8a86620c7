-- bench/tune.sql: scratch variants of verify_tenant_token for bench/run
-- --tune, created in the bench database only. Each is named tune_<letter>_
-- <change> and differs from the installed verify_tenant_token (the baseline,
-- measured as it is, not copied here) in the one way its name and comment
-- say; none repeats install.sql's check for a hashing failure, which runs
-- only for malformed tokens and so never in these measurements. bench/run
-- measures the baseline and every tune_% function side by side with the
-- same tokens, twice, with all tokens stale (each first use writes
-- last_used_at) and all fresh (no writes).

SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO';

DELIMITER //

-- b: the parameter is VARBINARY(255) instead of LONGBLOB. Caveat: in strict
-- mode a longer argument is an error (1406), not NULL.
CREATE OR REPLACE FUNCTION tune_b_varbinary(p_token VARBINARY(255))
  RETURNS UUID
  NOT DETERMINISTIC MODIFIES SQL DATA SQL SECURITY DEFINER
BEGIN
  DECLARE v_hash BINARY(32) DEFAULT tenant_token_hash(p_token);
  DECLARE v_tenant_id UUID DEFAULT NULL;
  DECLARE v_stale BOOLEAN DEFAULT FALSE;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_tenant_id = NULL;
  IF v_hash IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT tenant_id,
         last_used_at IS NULL OR last_used_at < NOW(6) - INTERVAL 60 SECOND
    INTO v_tenant_id, v_stale
    FROM tenant_tokens
   WHERE token_hash = v_hash AND revoked_at IS NULL
     AND (expires_at IS NULL OR expires_at > NOW(6));
  IF v_stale THEN
    UPDATE tenant_tokens SET last_used_at = NOW(6)
     WHERE token_hash = v_hash
       AND (last_used_at IS NULL OR last_used_at < NOW(6) - INTERVAL 60 SECOND);
  END IF;
  RETURN v_tenant_id;
END//

-- c: no NOT FOUND handler: an aggregate SELECT always yields one row (NULLs
-- when the token is unknown), so nothing is ever "not found".
CREATE OR REPLACE FUNCTION tune_c_no_handler(p_token LONGBLOB) RETURNS UUID
  NOT DETERMINISTIC MODIFIES SQL DATA SQL SECURITY DEFINER
BEGIN
  DECLARE v_hash BINARY(32) DEFAULT tenant_token_hash(p_token);
  DECLARE v_tenant_id UUID DEFAULT NULL;
  DECLARE v_stale BOOLEAN DEFAULT FALSE;
  IF v_hash IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT MAX(tenant_id),
         MAX(last_used_at IS NULL
             OR last_used_at < NOW(6) - INTERVAL 60 SECOND)
    INTO v_tenant_id, v_stale
    FROM tenant_tokens
   WHERE token_hash = v_hash AND revoked_at IS NULL
     AND (expires_at IS NULL OR expires_at > NOW(6));
  IF v_stale THEN
    UPDATE tenant_tokens SET last_used_at = NOW(6)
     WHERE token_hash = v_hash
       AND (last_used_at IS NULL OR last_used_at < NOW(6) - INTERVAL 60 SECOND);
  END IF;
  RETURN v_tenant_id;
END//

-- d: fewer statements: no IF for a NULL hash (looking up a NULL key is an
-- impossible WHERE: no row, no table read) and no DEFAULT but the hash's.
CREATE OR REPLACE FUNCTION tune_d_fewer_statements(p_token LONGBLOB)
  RETURNS UUID
  NOT DETERMINISTIC MODIFIES SQL DATA SQL SECURITY DEFINER
BEGIN
  DECLARE v_hash BINARY(32) DEFAULT tenant_token_hash(p_token);
  DECLARE v_tenant_id UUID;
  DECLARE v_stale BOOLEAN;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_tenant_id = NULL;
  SELECT tenant_id,
         last_used_at IS NULL OR last_used_at < NOW(6) - INTERVAL 60 SECOND
    INTO v_tenant_id, v_stale
    FROM tenant_tokens
   WHERE token_hash = v_hash AND revoked_at IS NULL
     AND (expires_at IS NULL OR expires_at > NOW(6));
  IF v_stale THEN
    UPDATE tenant_tokens SET last_used_at = NOW(6)
     WHERE token_hash = v_hash
       AND (last_used_at IS NULL OR last_used_at < NOW(6) - INTERVAL 60 SECOND);
  END IF;
  RETURN v_tenant_id;
END//

-- e: no last_used_at write at all: what the once-a-minute write costs. Not
-- a proposal by itself (the column would stop being kept).
CREATE OR REPLACE FUNCTION tune_e_no_touch(p_token LONGBLOB) RETURNS UUID
  NOT DETERMINISTIC READS SQL DATA SQL SECURITY DEFINER
BEGIN
  RETURN (SELECT tenant_id FROM tenant_tokens
           WHERE token_hash = tenant_token_hash(p_token)
             AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > NOW(6)));
END//

-- f: b and d together: VARBINARY(255) parameter, fewer statements.
CREATE OR REPLACE FUNCTION tune_f_varbinary_fewer(p_token VARBINARY(255))
  RETURNS UUID
  NOT DETERMINISTIC MODIFIES SQL DATA SQL SECURITY DEFINER
BEGIN
  DECLARE v_hash BINARY(32) DEFAULT tenant_token_hash(p_token);
  DECLARE v_tenant_id UUID;
  DECLARE v_stale BOOLEAN;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_tenant_id = NULL;
  SELECT tenant_id,
         last_used_at IS NULL OR last_used_at < NOW(6) - INTERVAL 60 SECOND
    INTO v_tenant_id, v_stale
    FROM tenant_tokens
   WHERE token_hash = v_hash AND revoked_at IS NULL
     AND (expires_at IS NULL OR expires_at > NOW(6));
  IF v_stale THEN
    UPDATE tenant_tokens SET last_used_at = NOW(6)
     WHERE token_hash = v_hash
       AND (last_used_at IS NULL OR last_used_at < NOW(6) - INTERVAL 60 SECOND);
  END IF;
  RETURN v_tenant_id;
END//

DELIMITER ;
