from .instance import current_instance


def instance(request):
    return {"wms_instance": current_instance()}
