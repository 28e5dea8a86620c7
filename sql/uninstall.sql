-- tenant_auth 1.0.0: uninstall from the current database.
--   mariadb tenant_auth_demo < sql/uninstall.sql
-- Drops the routines, the UDFs and the roles; keeps the tables and their rows,
-- so installing again brings every tenant and token back. The UDFs and roles
-- are server-wide: uninstalling from one database removes them for all.
-- To delete the data as well: DROP TABLE tenant_tokens, tenants;

DROP FUNCTION IF EXISTS verify_tenant_token;
DROP PROCEDURE IF EXISTS create_tenant;
DROP PROCEDURE IF EXISTS issue_tenant_token;
DROP PROCEDURE IF EXISTS revoke_tenant_token;
DROP PROCEDURE IF EXISTS rotate_tenant_token;
DROP PROCEDURE IF EXISTS tenant_auth_mint_token;
DROP FUNCTION IF EXISTS tenant_auth_token_id;

DROP FUNCTION IF EXISTS tenant_token_generate;
DROP FUNCTION IF EXISTS tenant_token_valid;
DROP FUNCTION IF EXISTS tenant_token_hash;
DROP FUNCTION IF EXISTS tenant_uuid;
DROP FUNCTION IF EXISTS tenant_auth_version;

DROP ROLE IF EXISTS tenant_auth_verifier;
DROP ROLE IF EXISTS tenant_auth_admin;
