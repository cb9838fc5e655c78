"""Domain errors: what went wrong, in words and stable machine codes.

No HTTP here: ``http_errors`` holds the one table that maps each class to a
status and error ``type``. The tree::

    DomainError
    ├── ValidationFailed            one or more bad fields (each a FieldError)
    │   ├── MalformedBody           not JSON, too deep, wrong encoding
    │   ├── InvalidReferenceFile    an operator's reference file, errors by line
    │   └── CustomerReferenceRequired  an all-customers connector's request names none
    ├── AuthenticationFailed        any API-key problem, one message for all
    ├── HttpsRequired               a plain-HTTP request
    ├── NotFound
    │   ├── OrderNotFound
    │   ├── RouteNotFound
    │   ├── CustomerNotFound
    │   ├── ConnectorNotFound
    │   ├── ApiKeyNotFound
    │   ├── TemplateNotFound, LookupTableNotFound, RequestNotFound
    │   ├── TriggerNotFound, DeliveryNotFound   postback triggers and deliveries
    ├── Conflict
    │   ├── DuplicateOrderReference
    │   ├── OrderNotCancellable
    │   ├── ShipmentNotUpdatable
    │   ├── OrderNotDraft
    │   ├── CustomerExists
    │   ├── ConnectorPrefixTaken
    │   └── TemplateExists, LookupTableExists, TemplateInUse
    ├── MethodNotAllowed
    ├── BodyTooLarge
    ├── UnsupportedMediaType
    ├── IdempotencyKeyReused        an Idempotency-Key sent again with another request
    ├── IdempotencyKeyInUse         a request with the same Idempotency-Key is still running
    ├── RateLimited                 over the API key's requests per second
    └── ServiceUnavailable          a dependency is down (e.g. the template renderer)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad input: seed 004's error object without its ``type``."""

    code: str
    param: str | None
    message: str


class DomainError(Exception):
    """Base of every error Pressline reports on purpose."""

    code = "error"
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    @property
    def field_errors(self) -> list[FieldError]:
        return [FieldError(code=self.code, param=None, message=self.message)]


class ValidationFailed(DomainError):
    code = "validation_failed"

    def __init__(self, errors: list[FieldError], summary: str | None = None) -> None:
        self.errors = errors
        first = errors[0]
        where = f"{first.param}: " if first.param else ""
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(summary or f"Invalid request: {where}{first.message}{more}")

    @property
    def field_errors(self) -> list[FieldError]:
        return self.errors


class MalformedBody(ValidationFailed):
    code = "malformed_body"

    def __init__(self, detail: str) -> None:
        super().__init__(
            [FieldError(self.code, None, detail)], summary=f"Malformed request body: {detail}"
        )


class AuthenticationFailed(DomainError):
    code = "invalid_api_key"
    # One message for missing, malformed, unknown, revoked, expired and wrong-secret keys,
    # so the reply never tells an attacker which part was right.
    default_message = "Missing or invalid X-API-KEY header. Expected 'key:secret'."


class HttpsRequired(DomainError):
    code = "https_required"
    default_message = "This API is served over HTTPS only. Resend the request with https://."


class NotFound(DomainError):
    code = "not_found"
    default_message = "The requested resource does not exist."


class OrderNotFound(NotFound):
    code = "order_not_found"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Order '{order_id}' was not found.")


class RouteNotFound(NotFound):
    code = "route_not_found"
    default_message = "No endpoint at this path."


class CustomerNotFound(NotFound):
    code = "customer_not_found"

    def __init__(self, reference: str) -> None:
        super().__init__(f"Customer '{reference}' was not found.")


class ConnectorNotFound(NotFound):
    code = "connector_not_found"

    def __init__(self, prefix: str) -> None:
        super().__init__(f"Connector '{prefix}' was not found.")


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"

    def __init__(self, key: str) -> None:
        super().__init__(f"API key '{key}' was not found.")


class FacilityNotFound(NotFound):
    code = "facility_not_found"

    def __init__(self, facility_id: str) -> None:
        super().__init__(f"Facility '{facility_id}' was not found in the shipping reference data.")


class FacilityKeyNotFound(NotFound):
    code = "facility_key_not_found"

    def __init__(self, key: str) -> None:
        super().__init__(f"Facility key '{key}' was not found.")


class Conflict(DomainError):
    code = "conflict"


class OrderNotDraft(Conflict):
    code = "order_not_draft"

    def __init__(self, status: str, action: str) -> None:
        super().__init__(
            f"Only a draft can be {action}; this order is '{status}' and is not a draft."
        )


class DuplicateOrderReference(Conflict):
    code = "duplicate_order_reference"

    def __init__(self, reference: str, existing_id: str) -> None:
        self.existing_id = existing_id
        super().__init__(
            f"An order with orderReferenceId '{reference}' already exists: {existing_id}."
        )


class ApiKeyNotRotatable(Conflict):
    code = "api_key_not_rotatable"

    def __init__(self, key: str, state: str) -> None:
        super().__init__(
            f"API key '{key}' is {state}: it is not rotated again. Issue a new key with "
            "`pressline keys create`, or revoke it with `pressline keys revoke`."
        )


class OrderNotCancellable(Conflict):
    code = "order_not_cancellable"

    def __init__(self, status: str) -> None:
        super().__init__(
            f"The order is '{status}' and can no longer be canceled "
            "(cancel is possible until it is shipped)."
        )


class FacilityChangeAfterHandOff(Conflict):
    code = "facility_change_after_hand_off"

    def __init__(self, facility: str, needed: str) -> None:
        super().__init__(
            f"The order is already with production facility '{facility}'; this change "
            f"would need facility '{needed}'. Choose an address or shipment method that "
            "facility can serve, or cancel the order and submit it again."
        )


class ShipmentNotUpdatable(Conflict):
    code = "shipment_not_updatable"

    def __init__(self, status: str) -> None:
        super().__init__(
            f"The order is '{status}'; its shipment can only be changed "
            "before it is shipped or canceled."
        )


class CustomerExists(Conflict):
    code = "customer_exists"

    def __init__(self, reference: str) -> None:
        super().__init__(f"A customer with reference '{reference}' already exists.")


class ConnectorPrefixTaken(Conflict):
    code = "connector_prefix_taken"

    def __init__(self, prefix: str) -> None:
        super().__init__(f"The URL prefix '{prefix}' is already used by another connector.")


class MethodNotAllowed(DomainError):
    code = "method_not_allowed"

    def __init__(self, method: str, allowed: list[str]) -> None:
        self.allowed = allowed
        super().__init__(f"{method} is not allowed here. Allowed: {', '.join(allowed)}.")


class BodyTooLarge(DomainError):
    code = "body_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body exceeds the limit of {limit} bytes.")


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    default_message = "Send the request body as JSON with 'Content-Type: application/json'."


class InvalidReferenceFile(ValidationFailed):
    """An operator's catalog, shipping, rates or customer-products file with problems."""

    code = "invalid_reference_file"

    def __init__(self, source: str, errors: list[FieldError]) -> None:
        count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
        super().__init__(errors, summary=f"{source} was not imported ({count}); nothing changed.")


class IdempotencyKeyReused(DomainError):
    """The key already answered a different request (method, path or body) in its window."""

    code = "idempotency_key_reused"

    def __init__(self, key: str, hours: int, *, reference: bool = False) -> None:
        #: Where the key came from: the header, or an orderReferenceId with preventDuplicate.
        self.param = "orderReferenceId" if reference else "Idempotency-Key"
        what = (
            f"orderReferenceId '{key}' was already submitted with preventDuplicate"
            if reference
            else f"Idempotency-Key '{key}' was already used"
        )
        super().__init__(
            f"{what} in the last {hours} hours for a different request (another body, "
            "order or operation). Send a new request under a new key; repeat a key only "
            "to retry the very same request."
        )

    @property
    def field_errors(self) -> list[FieldError]:
        return [FieldError(code=self.code, param=self.param, message=self.message)]


class IdempotencyKeyInUse(DomainError):
    """Another request with this key has not finished; retrying soon replays its answer."""

    code = "idempotency_key_in_use"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"A request with Idempotency-Key '{key}' is still being processed. Retry it "
            "shortly with the same key: you will get that request's answer."
        )


class RateLimited(DomainError):
    code = "rate_limit_exceeded"

    def __init__(self, quota: int, window: int, retry_after: int) -> None:
        self.retry_after = retry_after
        per = "second" if window == 1 else f"{window} seconds"
        super().__init__(
            f"Too many requests: this API key may make {quota} requests per {per}. "
            f"Retry after {retry_after} s, with backoff."
        )


class TemplateNotFound(NotFound):
    code = "template_not_found"

    def __init__(self, name: str, version: int | None = None) -> None:
        which = f"Template '{name}'" + (f" v{version}" if version is not None else "")
        super().__init__(f"{which} was not found for this customer.")


class LookupTableNotFound(NotFound):
    code = "lookup_table_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"Lookup table '{name}' was not found for this customer.")


class RequestNotFound(NotFound):
    code = "request_not_found"

    def __init__(self, request_id: str) -> None:
        super().__init__(f"Request '{request_id}' is not in the request log.")


class TemplateExists(Conflict):
    code = "template_exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"The customer already has a template named '{name}'.")


class LookupTableExists(Conflict):
    code = "lookup_table_exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"The customer already has a lookup table named '{name}'.")


class TemplateInUse(Conflict):
    code = "template_in_use"

    def __init__(self, name: str, prefixes: list[str]) -> None:
        super().__init__(
            f"Template '{name}' is linked to connector(s) {', '.join(prefixes)}; unlink it first."
        )


class CustomerReferenceRequired(ValidationFailed):
    """A request to an "All Customers" connector without a known Customer-Reference-ID."""

    code = "customer_reference_required"

    def __init__(self, value: str | None) -> None:
        if value:
            code, message = "unknown_customer", f"No customer has the reference '{value}'."
        else:
            code = self.code
            message = "This connector serves all customers: name one in Customer-Reference-ID."
        super().__init__(
            [FieldError(code, "Customer-Reference-ID", message)],
            summary=f"Customer-Reference-ID header: {message}",
        )


class TriggerNotFound(NotFound):
    code = "trigger_not_found"

    def __init__(self, trigger_id: str) -> None:
        super().__init__(f"Postback trigger '{trigger_id}' was not found.")


class DeliveryNotFound(NotFound):
    code = "delivery_not_found"

    def __init__(self, delivery_id: str) -> None:
        super().__init__(f"Delivery '{delivery_id}' was not found.")


class ServiceUnavailable(DomainError):
    """A part Pressline needs for this request is not available right now; retry later."""

    code = "service_unavailable"
    default_message = "The service is temporarily unavailable; retry shortly."
    #: Seconds a client should wait before retrying (the ``Retry-After`` header).
    retry_after = 1
