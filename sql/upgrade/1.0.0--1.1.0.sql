-- tenant_auth upgrade step 1.0.0 to 1.1.0. Run in the database tenant_auth
-- is installed in, after tenant_auth.so 1.1.0 is in plugin_dir, then run
-- install.sql of 1.1.0:
--   mariadb tenant_auth < build/sql/upgrade/1.0.0--1.1.0.sql
--   mariadb tenant_auth < build/sql/install.sql
-- What 1.1.0 changes: verify_tenant_token only reads (last_used_at is
-- written by the new note_tenant_token_use), and the database reports its
-- schema version (tenant_auth_schema_version()). No table changes: every row
-- is kept as it is. install.sql replaces the routines and reloads the UDF
-- library when the server still runs the 1.0.0 file.
--
-- The step checks where it runs: the tables of 1.0.0 must be here, and the
-- routines must be those of 1.0.0 (no tenant_auth_schema_version) or of 1.1.0
-- already (running the step twice changes nothing).
DELIMITER //
BEGIN NOT ATOMIC
  IF (SELECT COUNT(*) FROM information_schema.tables
       WHERE table_schema = DATABASE()
         AND table_name IN ('tenants', 'tenant_tokens')) <> 2 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'tenant_auth upgrade 1.0.0--1.1.0: no tenant_auth tables in this database';
  END IF;
  IF EXISTS (SELECT 1 FROM information_schema.routines
              WHERE routine_schema = DATABASE()
                AND routine_name = 'tenant_auth_schema_version') THEN
    IF tenant_auth_schema_version() NOT IN ('1.0.0', '1.1.0') THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
        'tenant_auth upgrade 1.0.0--1.1.0: the schema here is not version 1.0.0';
    END IF;
  END IF;
END//
DELIMITER ;
