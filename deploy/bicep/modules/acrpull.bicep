// AcrPull for keyrot's managed identity on ONE container registry (the one holding the keyrot
// image). Deploy with `scope: resourceGroup(<the registry's group>)`.

@description('Name of the Azure Container Registry in this resource group.')
param acrName string

@description('Object (principal) id of keyrot\'s user-assigned managed identity.')
param principalId string

@description('The AcrPull role definition id (passed by the caller, which documents it).')
@allowed([
  '7f951dda-4ed3-4680-a7ca-43fe172d538d'
])
param roleDefinitionId string

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: acrName
}

resource pull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, principalId, roleDefinitionId)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'keyrot container app: pull its image'
  }
}
