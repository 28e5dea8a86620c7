-- tenant_auth upgrade step 1.2.0 to 1.3.0. Run in the database tenant_auth
-- is installed in, after tenant_auth.so 1.3.0 is in plugin_dir, then run
-- install.sql of 1.3.0:
--   mariadb tenant_auth < build/sql/upgrade/1.2.0--1.3.0.sql
--   mariadb tenant_auth < build/sql/install.sql
-- From 1.1.0 or 1.0.0, run the earlier steps first, in order, then this
-- one, then install.sql.
-- What 1.3.0 changes: verify_tenant_token_hashes, verification by SHA-256
-- hash for a batch of up to 256 tokens in one call (tenant-authd 1.3.0
-- sends hashes only, never a clear token), granted to the verifier role.
-- No table changes: every row is kept as it is. install.sql adds the
-- routine and its grants, and reloads the UDF library when the server still
-- runs the 1.2.0 file.
--
-- The step checks where it runs: the tables of 1.2.0 must be here (after
-- the 1.1.0--1.2.0 step), the routines must be those of 1.2.0, or of 1.1.0
-- or 1.0.0 when the earlier steps ran just before without their install.sql,
-- or of 1.3.0 already (running the step twice changes nothing), and the
-- Sequence engine, which the new routine reads, must be on.
DELIMITER //
BEGIN NOT ATOMIC
  IF (SELECT COUNT(*) FROM information_schema.tables
       WHERE table_schema = DATABASE()
         AND table_name IN ('tenants', 'tenant_tokens')) <> 2 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth upgrade 1.2.0--1.3.0: no tenant_auth tables in this database';
  END IF;
  IF (SELECT COUNT(*) FROM information_schema.columns
       WHERE table_schema = DATABASE()
         AND ((table_name = 'tenant_tokens' AND column_name = 'abilities')
              OR (table_name = 'tenants' AND column_name = 'suspended_at')
              OR (table_name = 'tenant_auth_audit' AND column_name = 'id'))) <> 3 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth upgrade 1.2.0--1.3.0: the tables here are older than 1.2.0; run 1.1.0--1.2.0.sql first';
  END IF;
  IF EXISTS (SELECT 1 FROM information_schema.routines
              WHERE routine_schema = DATABASE()
                AND routine_name = 'tenant_auth_schema_version') THEN
    IF tenant_auth_schema_version() NOT IN ('1.1.0', '1.2.0', '1.3.0') THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
        'tenant_auth upgrade 1.2.0--1.3.0: the schema here is not version 1.2.0';
    END IF;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM information_schema.engines
                  WHERE engine = 'SEQUENCE' AND support IN ('YES', 'DEFAULT')) THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth upgrade 1.2.0--1.3.0: the Sequence engine is off; start the server without --skip-sequence first';
  END IF;
END//
DELIMITER ;
