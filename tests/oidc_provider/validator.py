"""The provider's claims: the user name, and its Django groups as the WMS expects
them: role groups in ``groups``, groups named ``wh:<code>`` in ``warehouses``."""

from oauth2_provider.oauth2_validators import OAuth2Validator


class ClaimsValidator(OAuth2Validator):
    oidc_claim_scope = None  # every claim, whatever the scopes

    def get_additional_claims(self, request):
        user = request.user
        names = list(user.groups.values_list("name", flat=True))
        return {
            "preferred_username": user.username,
            "email": user.email,
            "groups": [n for n in names if not n.startswith("wh:")],
            "warehouses": [n[3:] for n in names if n.startswith("wh:")],
        }
