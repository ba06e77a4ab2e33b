-- Entitlement caches (src/entitlements/entitlement-cache.ts) LISTEN on billing_entitlements: every
-- change to a subscription row notifies the accounts it belongs to, was moved from, or was deleted
-- from, in the transaction that makes the change, whoever makes it (worker, manual link, retention).
-- Subscription items are only ever written together with their subscription row.
CREATE FUNCTION billing_notify_entitlement_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.account_id IS NOT NULL THEN
    PERFORM pg_notify('billing_entitlements', OLD.account_id);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.account_id IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.account_id IS DISTINCT FROM OLD.account_id) THEN
    PERFORM pg_notify('billing_entitlements', NEW.account_id);
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER subscriptions_entitlement_change AFTER INSERT OR UPDATE OR DELETE ON subscriptions
  FOR EACH ROW EXECUTE FUNCTION billing_notify_entitlement_change();
